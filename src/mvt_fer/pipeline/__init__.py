"""The stages of the DVC pipeline, one module each, so that dvc.yaml can name exactly the code a stage runs.

Nothing is imported here: `mvt-fer --help` must not pay for torch, and a stage loads only its own module.
"""

STAGES = ("prepare", "train_mgn", "masks", "train_mvt", "evaluate")

# Stages that share their work between the processes of `torchrun`; the others run in process 0 alone.
DISTRIBUTED = {"train_mgn", "masks", "train_mvt"}
