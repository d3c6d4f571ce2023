import math

import numpy as np
import pytest
import torch

from mvt_fer.losses import (
    discriminator_loss,
    generator_loss,
    mask_area_penalty,
    prediction_variance,
    sampled_generator_loss,
    vote_distribution,
)
from mvt_fer.masking import bernoulli_log_prob


def test_uniform_softmax_has_zero_variance():
    assert torch.allclose(prediction_variance(torch.zeros(3, 7)), torch.zeros(3))
    assert torch.allclose(prediction_variance(torch.full((2, 4), 5.0)), torch.zeros(2))


def test_one_hot_variance_is_hand_computed():
    # softmax -> (1, 0, 0, 0) for huge logit gaps; unbiased variance over K=4: mean 1/4,
    # sum of squares (3/4)^2 + 3 (1/4)^2 = 12/16, divided by K-1 = 3 -> 1/4.
    logits = torch.tensor([[100.0, 0.0, 0.0, 0.0]])
    assert prediction_variance(logits).item() == pytest.approx(0.25)


def test_variance_of_a_known_distribution():
    p = torch.tensor([0.5, 0.3, 0.2])
    expected = ((p - p.mean()) ** 2).sum() / 2
    assert prediction_variance(p.log().unsqueeze(0)).item() == pytest.approx(expected.item(), rel=1e-6)


def test_mask_area_penalty():
    mp = torch.tensor([[0.0, 0.2, 0.4, 0.2], [1.0, 1.0, 1.0, 1.0]])
    assert mask_area_penalty(mp, 0.15).tolist() == pytest.approx([0.05, 0.85])


def test_generator_loss_is_eq2_averaged_over_the_batch():
    logits = torch.tensor([[100.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    mp = torch.tensor([[0.15] * 4, [0.35] * 4])
    # sample 1: 0.25 + 0; sample 2: 0 + 0.2
    assert generator_loss(logits, mp, 0.15).item() == pytest.approx((0.25 + 0.2) / 2)


def test_discriminator_loss_is_the_sum_of_two_cross_entropies():
    y = torch.tensor([0, 1])
    uniform = torch.zeros(2, 4)
    perfect = torch.tensor([[100.0, 0, 0, 0], [0, 100.0, 0, 0]])
    assert discriminator_loss(uniform, uniform, y).item() == pytest.approx(2 * math.log(4))
    assert discriminator_loss(perfect, uniform, y).item() == pytest.approx(math.log(4), abs=1e-5)


def test_generator_gradient_flows_to_mp():
    mp = torch.full((1, 4), 0.5, requires_grad=True)
    generator_loss(torch.zeros(1, 3), mp, 0.15).backward()
    assert torch.allclose(mp.grad, torch.full((1, 4), 0.25))  # d|mean - m| / d mp_i = 1/N


def test_generator_gradient_through_d_matches_eq2_by_finite_differences():
    # D's logits depend on Mp (logits = Mp W): the variance term's gradient must reach Mp too. The reference
    # is Eq. 2 written out in numpy, differentiated numerically.
    import numpy as np

    w = np.array([[2.0, -1.0, 0.5, 0.0], [0.0, 1.5, -2.0, 1.0], [1.0, 0.0, 0.0, -1.0]])

    def eq2(mp):
        z = mp @ w
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        return p.var(ddof=1) + abs(mp.mean() - 0.2)

    x = np.array([0.7, 0.2, 0.4])
    numeric = [(eq2(x + h) - eq2(x - h)) / 2e-6 for h in np.eye(3) * 1e-6]
    mp = torch.tensor(x[None], requires_grad=True)
    loss = generator_loss(mp @ torch.tensor(w), mp, 0.2)
    assert loss.item() == pytest.approx(eq2(x), rel=1e-6)
    loss.backward()
    assert mp.grad[0].tolist() == pytest.approx(numeric, rel=1e-4, abs=1e-7)
    assert not np.allclose(numeric, 1 / 3, atol=1e-3)  # more than the area term's 1/N


def test_sampled_generator_loss_value_is_eq2_and_gradient_is_the_score_function():
    # One image, N = 2 patches, S = 2 draws: M1 = (1, 0), M2 = (0, 1); D's variance on them 0.3 and 0.1.
    logits = torch.tensor([0.0, 0.0], requires_grad=True)
    mp = torch.sigmoid(logits)
    draws = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    log_prob = bernoulli_log_prob(logits.unsqueeze(0).expand(2, 2), draws).view(2, 1)
    assert log_prob.flatten().tolist() == pytest.approx([2 * math.log(0.5)] * 2)
    variance = torch.tensor([[0.3], [0.1]])
    loss = sampled_generator_loss(log_prob, variance, mp.unsqueeze(0), 0.15)
    # Value: mean variance 0.2 + |0.5 - 0.15| = 0.55.
    assert loss.item() == pytest.approx(0.55)
    loss.backward()
    # Advantages +0.1, -0.1; d log P(M) / d logit_i = M_i - sigmoid(logit_i) = +-0.5. Score term:
    # mean over draws of adv * (M - 0.5) = (0.1 * (0.5, -0.5) + -0.1 * (-0.5, 0.5)) / 2 = (0.05, -0.05).
    # Area term: sign(0.5 - 0.15) * sigmoid' / N = 0.25 / 2 = 0.125 per logit.
    assert logits.grad.tolist() == pytest.approx([0.05 + 0.125, -0.05 + 0.125])


def test_sampled_generator_loss_prefers_the_draw_that_leaves_d_undecided():
    # The draw showing patch 0 left D undecided (variance 0): a descent step raises P(patch 0).
    logits = torch.zeros(2, requires_grad=True)
    draws = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    log_prob = bernoulli_log_prob(logits.unsqueeze(0).expand(2, 2), draws).view(2, 1)
    loss = sampled_generator_loss(log_prob, torch.tensor([[0.0], [0.2]]), torch.full((1, 2), 0.15), 0.15)
    loss.backward()
    assert logits.grad[0] < 0 < logits.grad[1]


def test_vote_distribution_drops_single_votes_and_sums_to_one():
    #                  neu hap sur sad ang dis fea con
    votes = np.array([[6, 0, 1, 1, 0, 0, 0, 0], [4, 3, 0, 0, 2, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0, 5]])
    q = vote_distribution(votes)
    assert q.dtype == np.float32 and np.allclose(q.sum(1), 1)
    assert q[0].tolist() == [1, 0, 0, 0, 0, 0, 0, 0]  # the two single votes are outliers
    assert np.allclose(q[1], [4 / 9, 3 / 9, 0, 0, 2 / 9, 0, 0, 0])
    assert q[2].argmax() == 7 and q[2].max() == 1
