"""The losses: the mask generation network's (paper Eq. 1-4) and the classifier's vote targets; pure functions."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def discriminator_loss(
    logits_generated: torch.Tensor, logits_random: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Eq. 1: L_D = CE(logits_gm, y) + CE(logits_rm, y).

    D learns to recognise expressions both through the generator's masks and through random ones.
    """
    return F.cross_entropy(logits_generated.float(), targets) + F.cross_entropy(logits_random.float(), targets)


def prediction_variance(logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3: the unbiased variance of softmax(logits) over the K classes, per sample: (B,).

    Zero when D outputs every class with equal probability, largest for a one-hot prediction.
    """
    return torch.softmax(logits.float(), dim=-1).var(dim=-1, unbiased=True)


def mask_area_penalty(mp: torch.Tensor, mask_ratio: float) -> torch.Tensor:
    """Eq. 4 inside Eq. 2: |M_avg - m| per sample, M_avg the mean of the N patch values: (B,)."""
    return (mp.float().mean(dim=-1) - mask_ratio).abs()


def generator_loss(logits_generated: torch.Tensor, mp: torch.Tensor, mask_ratio: float) -> torch.Tensor:
    """Eq. 2: L_G = var(softmax(logits_gm)) + |M_avg - m|, averaged over the batch.

    G is rewarded for views that leave D undecided, at the prescribed mask area.
    """
    return (prediction_variance(logits_generated) + mask_area_penalty(mp, mask_ratio)).mean()


def sampled_generator_loss(
    log_prob: torch.Tensor, variance: torch.Tensor, mp: torch.Tensor, mask_ratio: float
) -> torch.Tensor:
    """Eq. 2 for binary masks drawn from G: L_G = E_{M ~ Bernoulli(Mp)}[var(softmax(D(v(x, M))))] + |M_avg - m|.

    `log_prob` (S, B) is log P(M | Mp) of S draws per image (differentiable in G), `variance` (S, B) Eq. 3
    of D's output on each draw's view (no gradient). The value is Eq. 2; the gradient of its first term
    is the score-function estimate E[(var - b) * grad log P(M)], with b the mean over the same image's
    draws. It measures what showing or hiding a patch actually does to D, where the gradient through
    the soft mask only measures D's sensitivity to a patch's brightness.
    """
    variance = variance.detach().float()
    advantage = variance - variance.mean(0, keepdim=True)
    surrogate = (advantage * log_prob).mean()
    return variance.mean() + surrogate - surrogate.detach() + mask_area_penalty(mp, mask_ratio).mean()


def vote_distribution(votes: np.ndarray) -> np.ndarray:
    """The annotators' label distribution (N, 8) from the emotion vote counts (N, 8), as FERPlus's reference
    code trains on it (Barsoum et al., 2016, "probability"): a single vote is an outlier and counts 0, the
    rest is normalised to sum to 1. Every row prepare keeps has a majority class of at least 2 votes."""
    votes = np.where(votes <= 1, 0, votes).astype(np.float64)
    return (votes / votes.sum(1, keepdims=True)).astype(np.float32)
