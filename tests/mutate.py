"""Mutation check (`make mutate`): each named bug is patched into a temporary copy of the package and the
fast tests that guard it are run there; every mutation must make them fail.

    python tests/mutate.py            # all of them; exit 1 if one survives or no longer applies
    python tests/mutate.py --list     # names only

A mutation is a list of (file, exact text, replacement), each text found exactly once, so an edit to
the code that moves the text makes the check fail loudly instead of testing nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    edits: tuple[tuple[str, str, str], ...]  # (file under src/mvt_fer, old, new)
    tests: tuple[str, ...]  # pytest node ids that must catch it


MUTATIONS = (
    Mutation(
        "Eq. 2: the variance term's gradient sign flipped (sampled estimator)",
        (
            (
                "losses.py",
                "variance.mean() + surrogate - surrogate.detach()",
                "variance.mean() - surrogate + surrogate.detach()",
            ),
        ),
        ("tests/test_losses.py",),
    ),
    Mutation(
        "Eq. 2: the variance term's sign flipped (soft / straight-through)",
        (
            (
                "losses.py",
                "return (prediction_variance(logits_generated) + mask_area_penalty",
                "return (-prediction_variance(logits_generated) + mask_area_penalty",
            ),
        ),
        ("tests/test_losses.py",),
    ),
    Mutation(
        "Eq. 2: the area term dropped",
        (
            (
                "losses.py",
                "surrogate.detach() + mask_area_penalty(mp, mask_ratio).mean()",
                "surrogate.detach() + 0 * mask_area_penalty(mp, mask_ratio).mean()",
            ),
        ),
        ("tests/test_losses.py",),
    ),
    Mutation(
        "Eq. 1: the random-view term dropped",
        (
            (
                "losses.py",
                "F.cross_entropy(logits_generated.float(), targets) + F.cross_entropy(logits_random.float(), targets)",
                "F.cross_entropy(logits_generated.float(), targets)",
            ),
        ),
        ("tests/test_losses.py",),
    ),
    Mutation(
        "the loop trains on the original labels instead of the store's",
        (
            (
                "relabel.py",
                "        self.noisy = self.labels != self.clean",
                "        self.original = self.labels.copy()\n        self.noisy = self.labels != self.clean",
            ),
            (
                "engine/train.py",
                "targets = torch.from_numpy(labels.labels[index.numpy()])",
                "targets = torch.from_numpy(labels.original[index.numpy()])",
            ),
        ),
        ("tests/engine/test_relabel_loop.py",),
    ),
    Mutation(
        "a G step also updates D",
        (
            ("engine/mgn.py", "    D.requires_grad_(False)\n", "    D.requires_grad_(True)\n"),
            (
                "engine/mgn.py",
                "    update(G, loss_g, optimizer=optimizer, scheduler=scheduler)\n",
                "    update(G, loss_g, optimizer=optimizer, scheduler=scheduler)\n"
                "    torch.optim.SGD(D.parameters(), lr=0.1).step()\n",
            ),
        ),
        ("tests/engine/test_mgn_training.py::test_a_g_step_moves_only_g_and_a_d_step_only_d",),
    ),
    Mutation(
        "a D step also updates G (G run in training mode: its BatchNorm statistics move)",
        (("engine/mgn.py", "mp = None if warmup else G.eval()(images)", "mp = None if warmup else G.train()(images)"),),
        ("tests/engine/test_mgn_training.py::test_a_g_step_moves_only_g_and_a_d_step_only_d",),
    ),
    Mutation(
        "the classifier ignores the keep-mask",
        (
            (
                "models/factory.py",
                "        if keep is not None:\n            images = apply_mask",
                "        if False:\n            images = apply_mask",
            ),
        ),
        ("tests/models/test_factory.py",),
    ),
    Mutation(
        "a flip applied to the image but not to its mask",
        (
            (
                "data/augment.py",
                "keep = torch.where(flip[:, None, None], keep.flip(-1), keep)",
                "keep = torch.where(flip[:, None, None], keep, keep)",
            ),
        ),
        ("tests/data/test_augment.py",),
    ),
    Mutation(
        "FERPlus vote: 'more than half' turned into 'at least half'",
        (("data/ferplus.py", "majority = votes.max(1) > 0.5 * total", "majority = votes.max(1) >= 0.5 * total"),),
        ("tests/data/test_ferplus.py::test_majority_vote_follows_the_reference_rule",),
    ),
    Mutation(
        "the inference mask's complement swapped (keep = Mp)",
        (
            (
                "masking.py",
                "return 1 - top_k_mask(mp, k) if hard else 1 - mp",
                "return 1 - top_k_mask(mp, k) if hard else mp",
            ),
        ),
        ("tests/test_masking.py",),
    ),
    Mutation(
        "relabel: '>' turned into '>=' (f = 0, delta = 0)",
        (("relabel.py", "p_max - p_gt > threshold(p_gt, r)", "p_max - p_gt >= threshold(p_gt, r)"),),
        ("tests/test_relabel.py",),
    ),
    Mutation(
        "relabel: the training-accuracy gate ignored",
        (("relabel.py", "reached = r.min_train_acc is None or any(", "reached = True or any("),),
        ("tests/test_relabel.py",),
    ),
    Mutation(
        "oracle: ties broken in row-major order, not nearest the face",
        (("masking.py", "np.lexsort((distance, share), axis=-1)", 'np.argsort(share, axis=-1, kind="stable")'),),
        ("tests/test_masking.py",),
    ),
    Mutation(
        "a decoy printed with the face's own class",
        (("data/synthetic.py", "return (label + int(rng.integers(1, len(CLASSES)))) % len(CLASSES)", "return label"),),
        ("tests/data/test_synthetic.py",),
    ),
    Mutation(
        "vote targets: the loss falls back to the majority label",
        (
            (
                "engine/train.py",
                "if soft_targets is None:",
                "if True:",
            ),
        ),
        ("tests/engine/test_train.py::test_vote_targets_train_on_the_distribution_and_score_on_the_label",),
    ),
    Mutation(
        "vote targets: single votes are not dropped as outliers",
        (("losses.py", "votes = np.where(votes <= 1, 0, votes)", "votes = np.where(votes < 1, 0, votes)"),),
        ("tests/test_losses.py::test_vote_distribution_drops_single_votes_and_sums_to_one",),
    ),
    Mutation(
        "vote targets: a relabeled row keeps training on its votes",
        (("relabel.py", "if len(moved):", "if False:"),),
        ("tests/engine/test_train.py::test_vote_targets_of_relabeled_rows_are_their_new_labels",),
    ),
)


def apply(tree: Path, mutation: Mutation) -> None:
    for file, old, new in mutation.edits:
        path = tree / "src" / "mvt_fer" / file
        text = path.read_text()
        if text.count(old) != 1:
            raise SystemExit(
                f"mutate: {mutation.name!r}: {file} holds its text {text.count(old)} times, not once; "
                "update tests/mutate.py with the code"
            )
        path.write_text(text.replace(old, new))


def run(mutation: Mutation) -> tuple[bool, float, str]:
    """(caught, seconds, last line of pytest's output) for one mutation, in a fresh copy of the tree."""
    with tempfile.TemporaryDirectory(prefix="mvt-mutate-") as tmp:
        tree = Path(tmp)
        for part in ("src", "tests", "stages", "params.yaml", "dvc.yaml", "pyproject.toml"):
            (shutil.copytree if (ROOT / part).is_dir() else shutil.copy2)(ROOT / part, tree / part)
        apply(tree, mutation)
        env = os.environ | {"PYTHONPATH": str(tree / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        where = subprocess.run(
            [sys.executable, "-c", "import mvt_fer; print(mvt_fer.__file__)"],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not where.startswith(str(tree)):  # the tests would run the unmutated package
            raise SystemExit(f"mutate: the copy's package is shadowed by {where}")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *mutation.tests],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
        )
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        # 1: tests failed (caught); anything else (0 passed, 2-5 errors or nothing collected) is not a catch.
        return proc.returncode == 1, time.perf_counter() - start, lines[-1] if lines else proc.stderr[-200:]


def main() -> int:
    if "--list" in sys.argv:
        print("\n".join(m.name for m in MUTATIONS))
        return 0
    start, survived = time.perf_counter(), []
    for i, mutation in enumerate(MUTATIONS, 1):
        caught, seconds, last = run(mutation)
        print(
            f"[{i:2d}/{len(MUTATIONS)}] {'caught  ' if caught else 'SURVIVED'} {seconds:5.1f}s  "
            f"{mutation.name}  ({last})",
            flush=True,
        )
        if not caught:
            survived.append(mutation.name)
    print(
        f"mutate: {len(MUTATIONS) - len(survived)} of {len(MUTATIONS)} mutations caught in "
        f"{time.perf_counter() - start:.0f}s" + (f"; survived: {'; '.join(survived)}" if survived else "")
    )
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
