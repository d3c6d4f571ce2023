"""Every PNG the pipeline draws (matplotlib, offline), beside the CSVs that DVC's own plots read."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .io import atomic_path


def _save(fig, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        # Fixed metadata keeps the PNG bytes a function of the data alone.
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)


def training_curves(history: pd.DataFrame, path: str | Path, title: str = "train_mvt") -> None:
    """Loss (left) and accuracies (right) per epoch."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax_loss.plot(history["epoch"], history["train_loss"], marker="o", label="train loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    for col in [c for c in history.columns if c.endswith("_acc")]:
        ax_acc.plot(history["epoch"], history[col], marker="o", label=col.removesuffix("_acc"))
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy")
    ax_acc.set_ylim(0, 1)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend()
    fig.suptitle(title)
    _save(fig, path)


def confusion(cm: np.ndarray, classes: list[str], path: str | Path, title: str = "") -> None:
    """Counts (left) and row-normalised rates (right), as in the paper's Fig. 6."""
    fig, axes = plt.subplots(1, 2, figsize=(4 + 1.1 * len(classes), 0.55 * len(classes) + 2.2))
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    for ax, values, fmt, name in ((axes[0], cm, "d", "counts"), (axes[1], rates, ".2f", "normalised")):
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for (t, p), v in np.ndenumerate(values):
            ax.text(
                p,
                t,
                format(v, fmt),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rates[t, p] > 0.5 else "black",
            )
        ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
        ax.set_yticks(range(len(classes)), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(name)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)


def mgn_curves(history: pd.DataFrame, path: str | Path) -> None:
    """L_D and L_G (left), mean Mp (middle), D's accuracy on random and generated views (right)."""
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    e = history["epoch"]
    axes[0].plot(e, history["loss_d"], marker="o", label="L_D (Eq. 1)")
    axes[0].plot(e, history["loss_g"], marker="o", label="L_G (Eq. 2)")
    axes[1].plot(e, history["mean_mp"], marker="o", label="mean Mp (train)")
    if "val_mean_mp" in history:
        axes[1].plot(e, history["val_mean_mp"], marker="o", label="mean Mp (val)")
    for col in [c for c in history.columns if "d_acc" in c]:
        axes[2].plot(e, history[col], marker="o", label=col)
    for ax, ylabel in zip(axes, ("loss", "mean Mp", "D accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    warm = history["phase"].eq("warmup").sum()
    for ax in axes:
        if warm:
            ax.axvspan(0.5, warm + 0.5, color="grey", alpha=0.12)
    fig.suptitle("train_mgn (grey: D warm-up)")
    _save(fig, path)


def mask_grid(images: np.ndarray, keep: np.ndarray, patch_size: int, path: str | Path, title: str = "") -> None:
    """The paper's Fig. 2: images (top row) above their masked versions (bottom row); black = erased."""
    from .masking import up

    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.4), squeeze=False)
    masked = (images * up(keep, patch_size)[..., None]).astype(np.uint8)
    for i in range(n):
        for row, img in enumerate((images[i], masked[i])):
            axes[row, i].imshow(img, interpolation="nearest")
            axes[row, i].axis("off")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def _sum_rows(array: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """The float64 sum over the first axis, a chunk of rows at a time: a memmapped split of any size is
    never converted whole."""
    total = np.zeros(array.shape[1:], np.float64)
    for start in range(0, len(array), chunk):
        total += np.asarray(array[start : start + chunk], np.float64).sum(0)
    return total


def mean_mask(
    keep: np.ndarray, patch_size: int, path: str | Path, title: str = "", images: np.ndarray | None = None
) -> None:
    """The mean erased share of every pixel over a set of images; beside the mean image when given."""
    from .masking import up

    erased = 1 - up(_sum_rows(keep) / len(keep), patch_size)
    panels = 1 if images is None else 2
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels, 3.2), squeeze=False)
    if images is not None:
        total = _sum_rows(images)  # (H, W, 3); exact, as uint8 pixels sum to integers well below 2**53
        axes[0, 0].imshow((total / len(images)).astype(np.uint8))
        axes[0, 0].set_title("mean image", fontsize=9)
        axes[0, 0].axis("off")
    ax = axes[0, -1]
    if images is not None:  # the erased share over the mean image, where it falls on the face
        ax.imshow(total.sum(-1) / (3 * len(images)), cmap="gray")
    im = ax.imshow(erased, cmap="magma", vmin=0, alpha=0.65 if images is not None else 1.0)
    fig.colorbar(im, ax=ax, label="erased share")
    ax.axis("off")
    ax.set_title("mean erased share" if images is not None else "", fontsize=9)
    fig.suptitle(title, fontsize=9)
    _save(fig, path)


def threshold_functions(r, path: str | Path) -> None:
    """The paper's Fig. 5a: the relabeling threshold f(P_gt) + delta of each f, the configured one bold."""
    import torch

    from .relabel import threshold

    p = torch.linspace(0, 1, 201)
    fig, ax = plt.subplots(figsize=(4.8, 3.4))
    for fn in ("constant", "linear", "quadratic", "sigmoid"):
        ax.plot(p, threshold(p, r.model_copy(update={"fn": fn})), lw=2.4 if fn == r.fn else 1.2, label=fn)
    ax.set_xlabel("P_gt")
    ax.set_ylabel("f(P_gt) + delta")
    ax.set_title(f"relabel thresholds (delta={r.delta}, a={r.a}, b={r.b}, c={r.c})", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def subset_accuracy(result: dict, path: str | Path, title: str = "") -> None:
    """Accuracy overall and on each flagged subset (occluded, pose > 30, pose > 45), with the bootstrap
    interval of the overall accuracy where there is one, and each bar's image count."""
    names = ["all", *result.get("subsets", {})]
    values = [result["accuracy"], *result.get("subsets", {}).values()]
    counts = [result["n"], *result.get("subset_n", {}).values()]
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 1.5, 3.2))
    bars = ax.bar(names, values, color=["#4c72b0"] + ["#dd8452"] * (len(names) - 1))
    ci = result.get("ci95", {}).get("accuracy")
    if ci:
        ax.errorbar(
            [0],
            [result["accuracy"]],
            yerr=[[result["accuracy"] - ci[0]], [ci[1] - result["accuracy"]]],
            color="black",
            capsize=4,
        )
    for bar, v, n in zip(bars, values, counts):
        ax.text(bar.get_x() + bar.get_width() / 2, v + 0.02, f"{v:.3f}\nn={n}", ha="center", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)
