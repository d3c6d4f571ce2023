"""Live curves: every epoch's record through dvclive (DVC's own logger) as the epoch ends.

dvc.yaml declares each training stage's folder (`metrics/live/<stage>/`): its `metrics.json` (the last
epoch's record) as metrics and its per-metric TSVs as plots, so `dvc exp show` and `dvc plots show`
follow an experiment while a stage of hours is still running. The stage's own CSV and PNG curves are
still written at its end: they are what the offline plots and the tests read.
"""

from __future__ import annotations

import math
from pathlib import Path


class LiveCurves:
    """Call with the history so far after each epoch; logs the records not yet logged, one dvclive step
    each (so a stage resumed from its checkpoint logs the restored epochs first). Numbers only: a record's
    strings (train_mgn's phase) and not-yet-defined values (NaN) are left out."""

    def __init__(self, folder: Path):
        self.folder, self.logged, self.live = folder, 0, None

    def __call__(self, history: list[dict]) -> None:
        if self.live is None:
            from dvclive import Live

            # A fresh folder (dvclive clears it); dvc.yaml already declares it, and `dvc exp run` makes the
            # experiment, so dvclive neither writes dvc.yaml nor saves an experiment of its own.
            self.live = Live(str(self.folder), save_dvc_exp=False, dvcyaml=None, report=None)
        for record in history[self.logged :]:
            for key, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                    self.live.log_metric(key, value)
            self.live.next_step()
        self.logged = len(history)

    def end(self) -> None:
        if self.live is not None:
            self.live.end()
