"""Dynamic relabeling (Eq. 5-6): threshold functions, the rule on hand-made rows, the label store."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mvt_fer.params import RelabelParams
from mvt_fer.relabel import LabelStore, relabel_active, relabel_decisions, relabel_quality, threshold

FNS = ("constant", "linear", "quadratic", "sigmoid")


@pytest.mark.parametrize("fn", FNS)
def test_each_threshold_is_nonnegative_nondecreasing_and_at_least_delta(fn):
    r = RelabelParams(fn=fn)
    p = torch.linspace(0, 1, 101)
    t = threshold(p, r)
    assert (t >= r.delta - 1e-7).all()
    assert (t[1:] - t[:-1] >= -1e-7).all()


def test_threshold_values():
    p = torch.tensor([0.0, 0.5, 1.0])
    assert threshold(p, RelabelParams(fn="constant", delta=0.2)).tolist() == pytest.approx([0.2, 0.2, 0.2])
    assert threshold(p, RelabelParams(fn="linear", a=0.4)).tolist() == pytest.approx([0.2, 0.4, 0.6])
    assert threshold(p, RelabelParams(fn="quadratic", a=0.4)).tolist() == pytest.approx([0.2, 0.3, 0.6])
    assert threshold(p, RelabelParams(fn="sigmoid", a=0.4, b=10, c=0.5))[1].item() == pytest.approx(0.4)


def test_rule_on_hand_made_rows():
    probs = torch.tensor(
        [
            [0.70, 0.10, 0.20],  # given 0 is the max: never changes
            [0.05, 0.80, 0.15],  # P_gt 0.05, P_max 0.8: every f relabels (gap 0.75)
            [0.30, 0.60, 0.10],  # P_gt 0.3, gap 0.3: constant (0.2) relabels; linear a=1 needs 0.5: does not
            [0.15, 0.30, 0.55],  # gap 0.4 at P_gt 0.15: constant and linear (0.35) relabel to 2
        ]
    )
    labels = torch.tensor([0, 0, 0, 0])
    assert relabel_decisions(probs, labels, RelabelParams(fn="constant")).tolist() == [0, 1, 1, 2]
    assert relabel_decisions(probs, labels, RelabelParams(fn="linear", a=1.0)).tolist() == [0, 1, 0, 2]
    assert relabel_decisions(probs, labels, RelabelParams(fn="quadratic", a=1.0)).tolist() == [0, 1, 1, 2]


def test_rule_needs_a_strictly_larger_gap_than_the_threshold():
    # f = 0 and delta = 0: a label tied with another class for the top probability stays (gap 0, not > 0).
    probs = torch.tensor([[0.5, 0.5, 0.0], [0.4, 0.4, 0.2], [0.3, 0.45, 0.25]])
    r = RelabelParams(fn="constant", delta=0.0)
    assert relabel_decisions(probs, torch.tensor([1, 0, 0]), r).tolist() == [1, 0, 1]


def test_sigmoid_threshold_on_hand_made_rows():
    # f(p) = a * sigmoid(b * (p - c)) + delta with a 0.5, b 10, c 0.4, delta 0.1.
    r = RelabelParams(fn="sigmoid", a=0.5, b=10.0, c=0.4, delta=0.1)
    p = torch.tensor([0.0, 0.4, 0.6, 1.0])
    expected = [0.5 / (1 + math.exp(-10 * (x - 0.4))) + 0.1 for x in (0.0, 0.4, 0.6, 1.0)]
    assert threshold(p, r).tolist() == pytest.approx(expected, abs=1e-6)  # 0.109, 0.35, 0.540, 0.599
    probs = torch.tensor([[0.05, 0.90, 0.05], [0.40, 0.60, 0.00], [0.30, 0.60, 0.10]])
    # gaps 0.85 (> 0.109), 0.20 (< 0.35 at P_gt 0.4), 0.30 (> f(0.3) = 0.5 * sigmoid(-1) + 0.1 = 0.234)
    assert relabel_decisions(probs, torch.tensor([0, 0, 0]), r).tolist() == [1, 0, 1]


def test_label_store_persists_logs_and_allows_a_second_change():
    store = LabelStore(labels=np.array([0, 1, 2, 0]), clean=np.array([1, 1, 2, 0]))
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.8, 0.0]])
    assert store.apply(3, np.array([0, 1]), np.array([1, 1]), probs) == 1  # sample 1 unchanged
    assert store.labels.tolist() == [1, 1, 2, 0]
    assert store.log == [{"epoch": 3, "index": 0, "old": 0, "new": 1, "clean": 1, "p_gt": 0.1, "p_max": 0.9}]
    assert store.epoch_stats(3) == {"count": 1, "precision": 1.0, "recall": 1.0}
    store.apply(4, np.array([0]), np.array([2]), np.array([[0.0, 0.3, 0.7]]))  # relabeled again later
    assert store.labels[0] == 2 and len(store.log) == 2
    assert store.epoch_stats(4) == {"count": 1, "precision": 0.0, "recall": 0.0}


def test_vote_targets_follow_relabeling():
    # mvt.targets: votes with relabeling: a row keeps its vote distribution until Eq. 6 moves its label
    # away from the one it started with; then it trains on the new label, one-hot, and back on the votes
    # if a later relabel returns it to where it started.
    votes = np.array([[0.6, 0.4, 0.0], [0.2, 0.8, 0.0], [0.0, 0.3, 0.7]], np.float32)
    store = LabelStore(labels=np.array([0, 1, 2]), clean=np.array([0, 1, 2]))
    assert store.soft_targets(np.array([2, 0]), votes).tolist() == votes[[2, 0]].tolist()
    store.apply(3, np.array([0]), np.array([1]), np.array([[0.3, 0.7, 0.0]]))
    targets = store.soft_targets(np.array([2, 0, 1]), votes)
    assert targets.tolist() == [votes[2].tolist(), [0.0, 1.0, 0.0], votes[1].tolist()]
    assert votes[0].tolist() == pytest.approx([0.6, 0.4, 0.0])  # the distributions themselves untouched
    store.apply(4, np.array([0]), np.array([0]), np.array([[0.9, 0.1, 0.0]]))
    assert store.soft_targets(np.array([0]), votes).tolist() == votes[[0]].tolist()


def test_precision_and_recall_arithmetic():
    clean = np.array([0, 1, 2, 3, 4])
    labels = np.array([0, 1, 0, 0, 4])  # samples 2, 3 were noisy (noise flipped them to 0) ...
    noisy = np.array([False, False, True, True, True])  # ... and 4 was noisy but has been restored
    changes = [{"new": 4, "clean": 4}, {"new": 0, "clean": 1}, {"new": 3, "clean": 3}, {"new": 2, "clean": 0}]
    assert relabel_quality(changes, labels, clean, noisy) == {
        "precision": 0.5,
        "recall": pytest.approx(1 / 3, abs=1e-6),
    }
    assert relabel_quality([], labels, clean, noisy) == {"recall": pytest.approx(1 / 3, abs=1e-6)}
    assert relabel_quality(changes, labels, clean, np.zeros(5, bool)) == {}


def test_gate_opens_after_an_epoch_at_the_training_accuracy_and_stays_open():
    r = RelabelParams(enabled=True, start_epoch=3, min_train_acc=0.9)
    accs = [0.5, 0.91, 0.7, 0.8]  # epoch 2 reached 0.9; epoch 3 fell back below it
    assert [relabel_active(r, e, accs[: e - 1]) for e in range(1, 6)] == [False, False, True, True, True]
    assert [relabel_active(r.model_copy(update={"start_epoch": 1}), e, accs[: e - 1]) for e in range(1, 4)] == [
        False,
        False,
        True,
    ]  # never on the epoch that reached it, only after
    assert not relabel_active(r, 5, [0.5, 0.89999, 0.8, 0.85])
    assert relabel_active(r.model_copy(update={"min_train_acc": None}), 3, [])
    assert not relabel_active(r.model_copy(update={"enabled": False}), 5, accs)
