"""DVC stage `masks`: models/mgn.pt + data/prepared/ -> data/masks/, metrics/masks.json, plots/masks/."""

from mvt_fer.pipeline.masks import masks
from mvt_fer.stage import run_stage

if __name__ == "__main__":
    run_stage(masks)
