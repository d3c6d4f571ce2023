"""Training and inference loops, run-time set-up and checkpoints."""
