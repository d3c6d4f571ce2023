"""DVC stage `train_mvt`: data/prepared/ -> models/mvt.pt, metrics/train.json, plots/train/."""

from mvt_fer.pipeline.train_mvt import train_mvt
from mvt_fer.stage import run_stage

if __name__ == "__main__":
    run_stage(train_mvt)
