"""The ELBO's terms against trusted references: torch.distributions and hand computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

from vae_tutorial.losses import (
    bernoulli_log_likelihood,
    gaussian_kl,
    gaussian_log_density,
    gaussian_log_likelihood,
    log_mean_exp,
    negative_elbo,
)
from vae_tutorial.model import reparameterize

G = torch.Generator().manual_seed(0)


def _gaussians(batch: int = 16, dim: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(batch, dim, generator=G, dtype=torch.float64), torch.randn(
        batch, dim, generator=G, dtype=torch.float64
    )


def test_gaussian_kl_matches_torch_distributions() -> None:
    mean, log_var = _gaussians()
    reference = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(-1)
    assert gaussian_kl(mean, log_var).shape == (16,)
    torch.testing.assert_close(gaussian_kl(mean, log_var), reference)


def test_gaussian_kl_is_zero_only_at_the_prior() -> None:
    zeros = torch.zeros(3, 4)
    torch.testing.assert_close(gaussian_kl(zeros, zeros), torch.zeros(3))
    mean, log_var = _gaussians()
    assert (gaussian_kl(mean, log_var) > 0).all()


def test_gaussian_kl_matches_a_monte_carlo_estimate() -> None:
    mean, log_var = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    z = reparameterize(mean.expand(200_000, 2), log_var.expand(200_000, 2), generator=G)
    samples = gaussian_log_density(z, mean, log_var) - gaussian_log_density(
        z, torch.zeros(2), torch.zeros(2)
    )
    stderr = samples.std() / math.sqrt(len(samples))
    assert abs(samples.mean() - gaussian_kl(mean, log_var)[0]) < 4 * stderr


def test_gaussian_log_density_matches_normal() -> None:
    mean, log_var = _gaussians()
    z = torch.randn(16, 5, generator=G, dtype=torch.float64)
    torch.testing.assert_close(
        gaussian_log_density(z, mean, log_var),
        Normal(mean, (0.5 * log_var).exp()).log_prob(z).sum(-1),
    )


def test_bernoulli_log_likelihood_by_hand() -> None:
    logits = torch.tensor([[2.0, -1.0, 0.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    by_hand = torch.log(p[0, 0]) + torch.log(1 - p[0, 1]) + torch.log(p[0, 2])
    torch.testing.assert_close(bernoulli_log_likelihood(logits, x), by_hand.reshape(1))
    torch.testing.assert_close(
        bernoulli_log_likelihood(logits, x), Bernoulli(logits=logits).log_prob(x).sum(-1)
    )


def test_bernoulli_log_likelihood_stays_finite_for_extreme_logits() -> None:
    logits = torch.tensor([[200.0, -200.0]])
    assert torch.isfinite(bernoulli_log_likelihood(logits, torch.tensor([[0.0, 1.0]]))).all()


def test_gaussian_log_likelihood_matches_normal() -> None:
    mean = torch.rand(4, 10, generator=G)
    x = torch.rand(4, 10, generator=G)
    torch.testing.assert_close(
        gaussian_log_likelihood(mean, x, 0.1), Normal(mean, 0.1).log_prob(x).sum(-1)
    )


def test_log_mean_exp_is_stable_and_exact() -> None:
    log_w = torch.tensor([-1000.0, -1001.0, -1002.0], dtype=torch.float64)
    expected = -1000.0 + math.log((1 + math.exp(-1) + math.exp(-2)) / 3)
    assert log_mean_exp(log_w).item() == pytest.approx(expected, abs=1e-12)
    assert torch.log(torch.exp(log_w).mean()).item() == -math.inf  # the naive way underflows


def test_negative_elbo_by_hand() -> None:
    logits, x = (
        torch.randn(8, 784, generator=G),
        torch.bernoulli(torch.full((8, 784), 0.3), generator=G),
    )
    mean, log_var = torch.randn(8, 20, generator=G), torch.randn(8, 20, generator=G)
    out = negative_elbo(logits, x, mean, log_var)
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 8
    kl = -0.5 * torch.sum(1 + log_var - mean**2 - log_var.exp()) / 8
    torch.testing.assert_close(out.reconstruction, reconstruction)
    torch.testing.assert_close(out.kl, kl)
    torch.testing.assert_close(out.loss, reconstruction + kl)


def test_reparameterize_has_the_right_distribution_and_gradients() -> None:
    mean = torch.tensor([1.0, -2.0], requires_grad=True)
    log_var = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = reparameterize(mean.expand(100_000, 2), log_var.expand(100_000, 2), generator=G)
    torch.testing.assert_close(z.mean(0), mean.detach(), atol=0.03, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03, rtol=0)
    z.sum().backward()
    assert mean.grad is not None and torch.allclose(mean.grad, torch.full((2,), 100_000.0))
    assert log_var.grad is not None and log_var.grad.abs().sum() > 0
