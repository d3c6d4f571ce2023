"""Summarizes experiments/relabel_mostly_right.sh's runs (docs/results.md "Relabeling studies", the probe
"With a classifier that is mostly right, precision passes 0.8"): per seed, test and val accuracy with
relabeling and without, then their mean ± sample std over the seeds that have both runs, and relabeling's
precision, recall, number of changes and first epoch.

    python experiments/summarize_relabel.py                                 # results/relabel-mostly-right
    python experiments/summarize_relabel.py results/relabel-mostly-right

Reads FOLDER/s<seed>-<true|false>/{train,eval}.json; writes FOLDER/summary.txt and prints it. Takes under a
second (relabel_mostly_right.sh runs it at its end).
"""

from __future__ import annotations

import json
import statistics as st
from pathlib import Path

import typer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "relabel-mostly-right"


def mean_std(values: list) -> str:
    """'mean ± sample std' to 3 decimals; a single value or none as the list itself."""
    return f"{st.mean(values):.3f} ± {st.stdev(values):.3f}" if len(values) > 1 else str(values)


def summarize(folder: Path) -> list[str]:
    lines, rows = [], []
    for seed in (0, 1, 2):
        row = {}
        for rel in ("true", "false"):
            run = folder / f"s{seed}-{rel}"
            if not run.exists():
                continue
            train = json.loads((run / "train.json").read_text())
            ev = json.loads((run / "eval.json").read_text())
            row[rel] = (ev["accuracy"], train["val_acc"], train.get("relabel"))
        lines.append(f"{seed} {row}")
        rows.append(row)
    full = [r for r in rows if "true" in r and "false" in r]
    on, off = [r["true"] for r in full], [r["false"] for r in full]
    precision = [r[2]["precision"] for r in on]
    lines += [
        f"relabel test {mean_std([r[0] for r in on])} none test {mean_std([r[0] for r in off])}",
        f"relabel val {mean_std([r[1] for r in on])} none val {mean_std([r[1] for r in off])}",
        f"precision {mean_std(precision)} {precision}",
        f"recall {mean_std([r[2]['recall'] for r in on])} count {[r[2]['count'] for r in on]} "
        f"started {[r[2]['started_epoch'] for r in on]}",
    ]
    return lines


def main(folder: Path = typer.Argument(RESULTS, help="the runs' folder; summary.txt is written there")) -> None:
    text = "\n".join(summarize(folder)) + "\n"
    (folder / "summary.txt").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    typer.run(main)
