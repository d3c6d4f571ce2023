"""DVC stage `evaluate`: models/mvt.pt + the test split -> metrics/eval.json, plots/eval/."""

from mvt_fer.pipeline.evaluate import evaluate
from mvt_fer.stage import run_stage

if __name__ == "__main__":
    run_stage(evaluate)
