"""DVC stage `train_mgn`: data/prepared/ -> models/mgn.pt, metrics/mgn.json, plots/mgn/."""

from mvt_fer.pipeline.train_mgn import train_mgn
from mvt_fer.stage import run_stage

if __name__ == "__main__":
    run_stage(train_mgn)
