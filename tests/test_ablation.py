"""The ablation grid and its report: what is run, and the arithmetic of the tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from ruamel.yaml import YAML

from mvt_fer import ablation
from mvt_fer.errors import UserError


def test_grid_covers_the_three_tables_once_each():
    points = ablation.grid()
    assert len(points) == len(set(points)) == len({p.name for p in points}) == 45  # 3 seeds x 15
    for seed in ablation.SEEDS:
        mine = [p for p in points if p.seed == seed]
        assert {
            (p.noise, p.row) for p in mine if p.fn == "sigmoid" and p.mask_ratio == 0.15 and p.source == "generator"
        } == {(n, r) for n in ablation.NOISE_RATES for r in ablation.ROWS}
        assert {p.fn for p in mine if p.noise == 0.3 and p.use_masks and p.relabel} == set(ablation.FNS)
        table1 = {(p.masks, p.mask_ratio) for p in mine if p.noise == 0.0 and not p.relabel}
        assert table1 == {("none", 0.15), ("G", 0.1), ("G", 0.15), ("G", 0.2), ("random", 0.15), ("oracle", 0.15)}
        assert all(p.source == "generator" for p in mine if p.relabel or p.noise > 0)  # bounds: Table 1 alone
    first = [p for p in points if p.mask_ratio == 0.15]
    assert points[: len(first)] == first and [p.seed for p in first] == sorted(
        p.seed for p in first
    )  # whole seeds first


def test_every_command_sets_every_varied_key():
    """dvc exp run -S edits params.yaml in place: a key left out would keep the previous run's value."""
    varied = {
        "seed",
        "prepare.noise_rate",
        "mask_ratio",
        "mvt.use_masks",
        "relabel.enabled",
        "relabel.fn",
        "masks.source",
    }
    for point in ablation.grid(range(1)):
        cmd = ablation.exp_command(point)
        sets = dict(arg.split("=", 1) for arg in cmd[cmd.index("-S") :] if arg != "-S")
        assert varied <= set(sets) and set(ablation.LIGHT) <= set(sets)
        assert YAML(typ="safe").load(sets["relabel.enabled"]) is point.relabel
        assert cmd[:5] == ["dvc", "exp", "run", "-n", point.name]


def _fake_workspace(root, log_rows, acc, precision=None, started=None):
    (root / "metrics").mkdir(parents=True)
    (root / "logs").mkdir()
    (root / "plots" / "train").mkdir(parents=True)
    (root / "metrics" / "eval.json").write_text(json.dumps({"accuracy": acc, "subsets": {"occluded": acc - 0.1}}))
    relabel = {"precision": 0.5, "recall": 0.25, "started_epoch": started}
    (root / "metrics" / "train.json").write_text(json.dumps({"val_acc": acc + 0.02, "relabel": relabel}))
    (root / "metrics" / "masks.json").write_text(json.dumps({"mask_area": {"test": 0.14}, "off_face_share": 0.9}))
    pd.DataFrame(log_rows, columns=["epoch", "index", "old", "new", "clean", "p_gt", "p_max"]).to_csv(
        root / "logs" / "relabel.csv", index=False
    )
    curves = {"epoch": [1, 2], "test_acc": [0.3, acc]} | ({"relabel_precision": precision} if precision else {})
    pd.DataFrame(curves).to_csv(root / "plots" / "train" / "curves.csv", index=False)


def test_collect_counts_wrong_changes_from_the_log(tmp_path):
    point = ablation.Point(0, 0.3, 0.15, True, True, "linear")
    _fake_workspace(
        tmp_path,
        [[10, 1, 2, 0, 0, 0.1, 0.8], [10, 2, 1, 3, 1, 0.2, 0.7], [11, 1, 0, 4, 0, 0.3, 0.5]],
        0.8,
        precision=[0.5, 0.0],
    )
    row = ablation.collect(point, tmp_path)
    assert (row["relabel_count"], row["relabel_wrong"]) == (3, 2) and row["val_acc"] == pytest.approx(0.82)
    assert row["test_acc_curve"] == [0.3, 0.8] and row["row"] == "MVT (both)" and row["occluded"] == pytest.approx(0.7)
    assert row["relabel_precision_by_epoch"] == [0.5, 0.0]  # epoch 10: one of two restores the clean label


def test_precision_by_epoch_skips_epochs_without_changes_and_is_absent_without_hidden_clean_labels(tmp_path):
    point = ablation.Point(0, 0.3, 0.15, True, True, "linear")
    _fake_workspace(tmp_path / "noisy", [[2, 1, 2, 0, 0, 0.1, 0.8]], 0.8, precision=[float("nan"), 1.0])
    assert ablation.collect(point, tmp_path / "noisy")["relabel_precision_by_epoch"] == [1.0]
    point = ablation.Point(0, 0.0, 0.15, True, True, "linear")  # the loop reports no precision: no column
    _fake_workspace(tmp_path / "clean", [[10, 1, 2, 0, 2, 0.1, 0.8]], 0.8)
    assert ablation.collect(point, tmp_path / "clean")["relabel_precision_by_epoch"] is None


def test_tables_are_mean_and_sample_std_over_seeds(tmp_path):
    rows = []
    for seed, acc in zip(range(3), (0.80, 0.84, 0.88)):
        for point in ablation.grid([seed]):
            ws = tmp_path / point.name
            log = [[10, 1, 2, 0, 0, 0.1, 0.8], [10, 2, 1, 3, 1, 0.2, 0.7], [11, 1, 0, 4, 0, 0.3, 0.5]]
            _fake_workspace(
                ws,
                log if point.relabel else [],
                acc + (0.01 if point.relabel else 0.0) + {"oracle": 0.05, "random": -0.05}.get(point.source, 0.0),
                precision=[0.5, 0.0] if point.relabel and point.noise > 0 else None,
                started=[3, None, 4][seed] if point.relabel else None,
            )
            rows.append(ablation.collect(point, ws))
    rows.reverse()  # the gate's epochs are listed seed by seed whatever order the runs were appended in
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "runs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tables = ablation.report(tmp_path / "out")
    t3 = tables["table3_modules"]
    cell = t3[(t3.noise == 0.3) & (t3.row == "+relabel")]["accuracy"].item()
    assert cell == f"{np.mean([0.81, 0.85, 0.89]):.3f} ± {np.std([0.81, 0.85, 0.89], ddof=1):.3f} (n=3)"
    t1 = tables["table1_mask_ratio"]
    assert list(zip(t1.masks, t1.mask_ratio)) == [
        ("none", 0.0),
        ("random", 0.15),
        ("G", 0.1),
        ("G", 0.15),
        ("G", 0.2),
        ("oracle", 0.15),
    ]
    assert t1.set_index("masks").loc["oracle", "accuracy"] == f"{np.mean([0.85, 0.89, 0.93]):.3f} ± 0.040 (n=3)"
    assert t3.set_index(["noise", "row"]).loc[(0.3, "+relabel"), "started_epoch"] == "3, never, 4"
    assert t3.set_index(["noise", "row"]).loc[(0.0, "baseline"), "started_epoch"] == "-"
    t2 = tables["table2_threshold_fn"]
    assert t2.set_index("fn").loc["linear", "relabel_precision_first"] == "0.500 ± 0.000 (n=3)"
    assert list(tables["table2_threshold_fn"]["fn"]) == list(ablation.FNS)
    assert (tmp_path / "out" / "test_acc_curves.png").stat().st_size > 1000
    assert "table3_modules" in (tmp_path / "out" / "tables.md").read_text()


def test_report_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no ablation runs yet"):
        ablation.report(tmp_path)
