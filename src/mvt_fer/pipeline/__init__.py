"""The stages of the DVC pipeline, one module each, so that dvc.yaml can name exactly the code a stage runs."""

from .evaluate import evaluate
from .masks import masks
from .prepare import prepare
from .train_mgn import train_mgn
from .train_mvt import train_mvt

__all__ = ["prepare", "train_mgn", "masks", "train_mvt", "evaluate"]

# Stages that share their work between the processes of `torchrun`; the others run in process 0 alone.
DISTRIBUTED = {"train_mgn", "masks", "train_mvt"}
