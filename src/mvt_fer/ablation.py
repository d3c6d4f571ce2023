"""The paper's ablation (Tables 1-3) at CPU scale: a grid of `dvc exp run` experiments and its report.

`mvt-fer ablation run` runs every grid point as one DVC experiment in the workspace, one at a time (two
cores run one heavy job well, not two). Stages whose inputs are unchanged come from DVC's run cache, so
the masks of one MGN serve every classifier row that shares its seed, noise rate and mask ratio. After each
experiment the figures of its workspace are appended to `results/ablation/runs.jsonl`; a rerun skips the
grid points already there, so an interrupted sweep resumes. `mvt-fer ablation report` turns that file into
mean ± std tables (markdown and CSV) and the per-epoch test-accuracy curves (PNG).

The grid fixes every key it varies in every experiment: `dvc exp run -S` edits params.yaml in place, so
a key left out would inherit the previous experiment's value.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import UserError
from .io import atomic_path, write_csv
from .presets import as_flags, overrides

RESULTS = Path("results/ablation")

# The lighter configuration shared by every experiment (the demo's params.yaml otherwise); configs/_ablation.yaml
# says why each value.
LIGHT = overrides("_ablation")
SEEDS = (0, 1, 2)
NOISE_RATES = (0.0, 0.3)
MASK_RATIOS = (0.1, 0.15, 0.2)
FNS = ("constant", "linear", "quadratic", "sigmoid")
ROWS = {  # Table 3: (mvt.use_masks, relabel.enabled)
    "baseline": (False, False),
    "+MGN": (True, False),
    "+relabel": (False, True),
    "MVT (both)": (True, True),
}
BOUNDS = ("random", "oracle")  # Table 1's masks beside G's (masks.source), at the default ratio
DEFAULT_FN, DEFAULT_RATIO = "sigmoid", 0.15


@dataclass(frozen=True)
class Point:
    """One experiment: every key the grid varies, set explicitly."""

    seed: int
    noise: float
    mask_ratio: float
    use_masks: bool
    relabel: bool
    fn: str
    source: str = "generator"  # masks.source: G's masks, or one of the BOUNDS

    @property
    def name(self) -> str:
        tail = f"relabel-{self.fn}" if self.relabel else "norelabel"
        kind = "mgn" if self.source == "generator" else self.source
        masks = f"{kind}{self.mask_ratio:g}" if self.use_masks else "nomasks"
        return f"abl-s{self.seed}-n{self.noise:g}-{masks}-{tail}"

    def overrides(self) -> dict:
        return LIGHT | {
            "seed": self.seed,
            "prepare.noise_rate": self.noise,
            "mask_ratio": self.mask_ratio,
            "mvt.use_masks": self.use_masks,
            "relabel.enabled": self.relabel,
            "relabel.fn": self.fn,
            "masks.source": self.source,
        }

    @property
    def row(self) -> str:
        """Table 3's row; a bound's masks are Table 1's alone."""
        if self.source != "generator":
            return f"{self.source} masks"
        return next(r for r, flags in ROWS.items() if flags == (self.use_masks, self.relabel))

    @property
    def masks(self) -> str:
        """Table 1's row: none, G, or a bound."""
        return ("G" if self.source == "generator" else self.source) if self.use_masks else "none"


def grid(seeds=SEEDS) -> list[Point]:
    """Per seed, Table 3 and Table 2 (the four f, full method) at noise 0.3, then Table 3 and Table 1's
    bounds at noise 0; Table 1's other mask ratios after every seed's, since each trains its own MGN. Seeds
    outermost, so a sweep stopped early has whole seeds of Tables 2 and 3."""
    points: list[Point] = []
    for seed in seeds:
        points += [Point(seed, 0.3, DEFAULT_RATIO, m, r, DEFAULT_FN) for m, r in ROWS.values()]
        points += [Point(seed, 0.3, DEFAULT_RATIO, True, True, fn) for fn in FNS]
        points += [Point(seed, 0.0, DEFAULT_RATIO, m, r, DEFAULT_FN) for m, r in ROWS.values()]
        points += [Point(seed, 0.0, DEFAULT_RATIO, True, False, DEFAULT_FN, bound) for bound in BOUNDS]
    for seed in seeds:
        points += [Point(seed, 0.0, ratio, True, False, DEFAULT_FN) for ratio in MASK_RATIOS]
    return list(dict.fromkeys(points))  # Table 1's 0.15 and Table 2's sigmoid are Table 3 rows


def exp_command(point: Point) -> list[str]:
    return ["dvc", "exp", "run", "-n", point.name, *as_flags(point.overrides())]


def collect(point: Point, workspace: Path = Path(".")) -> dict:
    """The figures of the experiment now in `workspace`: accuracy, occluded accuracy, relabel quality
    (wrong changes counted from the relabel log), mask quality, and the per-epoch test accuracy."""

    def load(path):
        return json.loads((workspace / path).read_text())

    ev, tr, mk = load("metrics/eval.json"), load("metrics/train.json"), load("metrics/masks.json")
    log = pd.read_csv(workspace / "logs/relabel.csv")
    curves = pd.read_csv(workspace / "plots/train/curves.csv")
    relabel = tr.get("relabel", {})
    return {
        "name": point.name,
        "seed": point.seed,
        "noise": point.noise,
        "mask_ratio": point.mask_ratio,
        "use_masks": point.use_masks,
        "relabel": point.relabel,
        "fn": point.fn,
        "source": point.source,
        "row": point.row,
        "masks": point.masks,
        "accuracy": ev["accuracy"],
        "occluded": ev.get("subsets", {}).get("occluded"),
        "relabel_count": len(log),
        "relabel_wrong": int((log["new"] != log["clean"]).sum()),
        "relabel_precision": relabel.get("precision"),
        "relabel_recall": relabel.get("recall"),
        "started_epoch": relabel.get("started_epoch"),  # the gate's first open epoch (None: never opened)
        "val_acc": tr.get("val_acc"),
        # Per epoch, as the loop measured it (epochs without changes dropped): whole-run precision hides that
        # the first relabel epoch fixes mostly noisy labels and later ones more and more clean labels the
        # classifier gets wrong. Absent without known clean labels (no injected noise) or relabeling.
        "relabel_precision_by_epoch": (
            curves["relabel_precision"].dropna().tolist() if "relabel_precision" in curves else None
        ),
        "off_face_share": mk.get("off_face_share"),
        "mask_area": mk["mask_area"].get("test"),
        "test_acc_curve": curves["test_acc"].round(6).tolist(),
    }


def read_runs(path: Path = RESULTS / "runs.jsonl") -> pd.DataFrame:
    if not path.exists():
        raise UserError(f"{path}: no ablation runs yet; run `mvt-fer ablation run` first")
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])


def run(points: list[Point], out: Path = RESULTS) -> None:
    """Run the grid points not yet in `out/runs.jsonl`, appending each one's figures as it finishes.
    params.yaml is restored afterwards (the workspace keeps the last experiment's outputs)."""
    log = out / "runs.jsonl"
    done = (
        {json.loads(line)["name"] for line in log.read_text().splitlines() if line.strip()} if log.exists() else set()
    )
    todo = [p for p in points if p.name not in done]
    print(f"ablation: {len(points) - len(todo)} of {len(points)} experiments already done", flush=True)
    params = Path("params.yaml").read_bytes()
    try:
        for i, point in enumerate(todo, 1):
            print(f"ablation [{i}/{len(todo)}] {point.name}", flush=True)
            subprocess.run(["dvc", "exp", "remove", point.name], capture_output=True)  # a failed earlier try
            if subprocess.run(exp_command(point)).returncode != 0:
                raise UserError(f"ablation: `dvc exp run -n {point.name}` failed; see its output above")
            out.mkdir(parents=True, exist_ok=True)
            with log.open("a") as f:
                f.write(json.dumps(collect(point)) + "\n")
    finally:
        Path("params.yaml").write_bytes(params)


def _mean_std(values: pd.Series) -> str:
    """'mean ± sample std (n=seeds)'; counts without decimals."""
    v = values.dropna().to_numpy(dtype=float)
    if len(v) == 0:
        return "-"
    fmt = ".0f" if values.name in ("relabel_count", "relabel_wrong") else ".3f"
    if len(v) == 1:
        return f"{v[0]:{fmt}} (n=1)"
    return f"{v.mean():{fmt}} ± {v.std(ddof=1):{fmt}} (n={len(v)})"


def _per_seed(values: pd.Series) -> str:
    """The gate's first open epoch, seed by seed ('never': it stayed shut)."""
    return ", ".join("never" if pd.isna(v) else f"{v:.0f}" for v in values)


def summarize(runs: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Tables 1-3 as mean ± sample std over seeds (the gate's epochs listed seed by seed)."""
    by_epoch = runs.get("relabel_precision_by_epoch", pd.Series(None, index=runs.index, dtype=object))
    runs = runs.assign(
        relabel_precision_first=by_epoch.map(lambda e: e[0] if isinstance(e, list) and e else np.nan),
        # runs from before the bounds and the gate (results/ablation-patch-stem) lack these columns
        source=runs.get("source", "generator"),
        masks=runs.get("masks", runs.use_masks.map({True: "G", False: "none"})),
        started_epoch=runs.get("started_epoch", np.nan),
        val_acc=runs.get("val_acc", np.nan),
    ).sort_values("seed", kind="stable")
    figures = [
        "accuracy",
        "val_acc",
        "occluded",
        "relabel_count",
        "relabel_wrong",
        "relabel_precision",
        "relabel_precision_first",
        "relabel_recall",
    ]
    aggregate = {f: _mean_std for f in figures} | {"started_epoch": _per_seed}

    def table(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
        out = frame.groupby(by).agg(aggregate).reset_index()
        out.loc[~frame.groupby(by).relabel.any().to_numpy(), "started_epoch"] = "-"
        return out

    generated = runs[runs.source == "generator"]
    main = generated[(generated.mask_ratio == DEFAULT_RATIO) & (generated.fn == DEFAULT_FN)]
    table3 = table(main, ["noise", "row"])
    table3 = table3.sort_values(["noise", "row"], key=lambda c: c.map(list(ROWS).index) if c.name == "row" else c)
    table2 = table(
        generated[
            (generated.noise == 0.3) & generated.use_masks & generated.relabel & (generated.mask_ratio == DEFAULT_RATIO)
        ],
        ["fn"],
    )
    table2 = table2.sort_values("fn", key=lambda c: c.map(FNS.index))
    ratio_runs = runs[(runs.noise == 0.0) & ~runs.relabel].copy()
    ratio_runs.loc[~ratio_runs.use_masks, "mask_ratio"] = 0.0  # no masks is the ratio-0 row
    ratio_runs.loc[~ratio_runs.use_masks, ["mask_area", "off_face_share"]] = np.nan
    order = ["none", "random", "G", "oracle"]
    table1 = (
        ratio_runs.groupby(["masks", "mask_ratio"])[["accuracy", "val_acc", "occluded", "mask_area", "off_face_share"]]
        .agg(_mean_std)
        .reset_index()
        .sort_values(["masks", "mask_ratio"], key=lambda c: c.map(order.index) if c.name == "masks" else c)
    )
    return {"table1_mask_ratio": table1, "table2_threshold_fn": table2, "table3_modules": table3}


def curves_plot(runs: pd.DataFrame, path: Path) -> None:
    """Per-epoch test accuracy, mean over seeds (band: min-max): Table 3's rows at each noise rate and
    Table 2's four f."""
    from .plots import _save, plt

    runs = runs[runs.get("source", pd.Series("generator", index=runs.index)) == "generator"]
    panels = [
        (
            f"noise {n:g}: modules",
            runs[(runs.noise == n) & (runs.mask_ratio == DEFAULT_RATIO) & (runs.fn == DEFAULT_FN)],
            "row",
        )
        for n in NOISE_RATES
    ]
    panels.append(
        ("noise 0.3: threshold f (MGN + relabel)", runs[(runs.noise == 0.3) & runs.use_masks & runs.relabel], "fn")
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), sharey=True)
    for ax, (title, frame, by) in zip(axes, panels):
        for key, group in frame.groupby(by, sort=False):
            acc = np.array(group["test_acc_curve"].tolist(), dtype=float)
            epochs = np.arange(1, acc.shape[1] + 1)
            ax.plot(epochs, acc.mean(0), marker=".", label=f"{key} (n={len(acc)})")
            ax.fill_between(epochs, acc.min(0), acc.max(0), alpha=0.15)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if len(frame):
            ax.legend(fontsize=8)
    axes[0].set_ylabel("test accuracy")
    _save(fig, path)


def report(out: Path = RESULTS) -> dict[str, pd.DataFrame]:
    """Write the tables (markdown + CSV) and the curves PNG from `out/runs.jsonl`; return the tables."""
    runs = read_runs(out / "runs.jsonl")
    tables = summarize(runs)
    lines = [f"# Ablation at CPU scale ({runs.seed.nunique()} seeds, {len(runs)} experiments)", ""]
    for name, table in tables.items():
        write_csv(out / f"{name}.csv", table)
        lines += [f"## {name}", "", table.to_markdown(index=False), ""]
    with atomic_path(out / "tables.md") as tmp:
        tmp.write_text("\n".join(lines))
    curves_plot(runs, out / "test_acc_curves.png")
    return tables
