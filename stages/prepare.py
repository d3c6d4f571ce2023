"""DVC stage `prepare`: raw data (or the synthetic generator) -> data/prepared/, metrics/prepare.json."""

from mvt_fer.pipeline.prepare import prepare
from mvt_fer.stage import run_stage

if __name__ == "__main__":
    run_stage(prepare)
