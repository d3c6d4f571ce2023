"""Dynamic relabeling (paper Sec. 3.3, Eq. 5-6): the threshold functions, the rule, the label store.

Pure tensor and array code: the training loop owns the label store and asks `relabel` for decisions on
the probabilities it has already computed, so DataLoader workers never hold labels that can change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .params import RelabelParams


def threshold(p_gt: torch.Tensor, r: RelabelParams) -> torch.Tensor:
    """f(P_gt) + delta of Eq. 6; with `r.fn == "constant"` (f = 0) it is Eq. 5, SCN's rule.

    Each f is nonnegative and nondecreasing on [0, 1] for nonnegative coefficients (the schema ensures
    them): linear a*p, quadratic a*p^2, sigmoid a*sigmoid(b*(p - c)).
    """
    if r.fn == "constant":
        f = torch.zeros_like(p_gt)
    elif r.fn == "linear":
        f = r.a * p_gt
    elif r.fn == "quadratic":
        f = r.a * p_gt**2
    else:
        f = r.a * torch.sigmoid(r.b * (p_gt - r.c))
    return f + r.delta


def relabel_decisions(probs: torch.Tensor, labels: torch.Tensor, r: RelabelParams) -> torch.Tensor:
    """Eq. 6: the new label of each sample, l_max where P_max - P_gt > f(P_gt) + delta, else the given one.

    `probs` (B, K) are the classifier's softmax outputs, `labels` (B,) the labels it was trained on.
    """
    p_max, l_max = probs.max(dim=-1)
    p_gt = probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return torch.where(p_max - p_gt > threshold(p_gt, r), l_max, labels)


def relabel_active(r: RelabelParams, epoch: int, train_accs: list[float]) -> bool:
    """Whether epoch `epoch` (counting from 1) relabels, given the training accuracies of the epochs
    before it: from `start_epoch` on, once one of them reached `min_train_acc` ("when the training
    accuracy is high enough (e.g. 90%)", Sec. 4.3). Once on, it stays on: the condition only grows."""
    reached = r.min_train_acc is None or any(acc >= r.min_train_acc for acc in train_accs)
    return r.enabled and epoch >= r.start_epoch and reached


def started_epoch(history: list[dict]) -> int | None:
    """The first epoch that relabeled (records of `fit_classifier`), None if none did."""
    return next((int(h["epoch"]) for h in history if h.get("relabel_on")), None)


@dataclass
class LabelStore:
    """The training labels as the loop currently believes them, and every change made to them."""

    labels: np.ndarray  # (N,) int64, mutated only by `apply`
    clean: np.ndarray  # (N,) int64, the labels before injected noise (= labels where none was injected)

    def __post_init__(self):
        self.labels = np.array(self.labels, dtype=np.int64)  # a private copy
        self.initial = self.labels.copy()  # the labels training started from (a resumed run's too)
        self.clean = np.asarray(self.clean, dtype=np.int64)
        self.noisy = self.labels != self.clean  # fixed at the start: what recall is measured against
        self.log: list[dict] = []

    def apply(self, epoch: int, index: np.ndarray, new: np.ndarray, probs: np.ndarray) -> int:
        """Record and apply the changes among (index, new); `probs` (B, K) are the probabilities behind
        them. Returns how many labels changed."""
        index, new = np.asarray(index), np.asarray(new)
        old = self.labels[index]
        changed = np.flatnonzero(new != old)
        for j in changed:
            i = int(index[j])
            self.log.append(
                {
                    "epoch": epoch,
                    "index": i,
                    "old": int(old[j]),
                    "new": int(new[j]),
                    "clean": int(self.clean[i]),
                    "p_gt": round(float(probs[j, old[j]]), 6),
                    "p_max": round(float(probs[j].max()), 6),
                }
            )
        self.labels[index[changed]] = new[changed]
        return len(changed)

    def soft_targets(self, index: np.ndarray, votes: np.ndarray) -> np.ndarray:
        """What rows `index` train on with vote targets (`votes` (N, K), mvt.targets: votes): their vote
        distribution, except a row relabeled (Eq. 6) away from the label it started with, which trains on its
        new label, one-hot: relabeling judges the annotators' majority wrong, and then their distribution no
        longer describes the image."""
        index = np.asarray(index)
        targets = votes[index]
        moved = np.flatnonzero(self.labels[index] != self.initial[index])
        if len(moved):
            targets = targets.copy()
            targets[moved] = np.eye(votes.shape[1], dtype=targets.dtype)[self.labels[index[moved]]]
        return targets

    def state_dict(self) -> dict:
        """What a resumed run needs: the current labels and the change log."""
        return {"labels": torch.from_numpy(self.labels.copy()), "log": list(self.log)}

    def load_state_dict(self, state: dict) -> None:
        self.labels = state["labels"].numpy().astype(np.int64)
        self.log = list(state["log"])

    def epoch_stats(self, epoch: int) -> dict:
        """Changes made in `epoch` and, where noise was injected, their precision and the recall of the
        labels as they stand now (call it at the end of the epoch)."""
        rows = [e for e in self.log if e["epoch"] == epoch]
        return {"count": len(rows), **relabel_quality(rows, self.labels, self.clean, self.noisy)}


def relabel_quality(changes: list[dict], labels: np.ndarray, clean: np.ndarray, noisy: np.ndarray) -> dict:
    """precision: changes that restore the clean label / all changes; recall: noisy samples whose current
    label is the clean one / noisy samples. Only where noise was injected (otherwise the clean label is
    just the given one); precision only where there were changes."""
    out = {}
    if not noisy.any():
        return out
    if changes:
        out["precision"] = round(sum(e["new"] == e["clean"] for e in changes) / len(changes), 6)
    out["recall"] = round(float((labels[noisy] == clean[noisy]).mean()), 6)
    return out
