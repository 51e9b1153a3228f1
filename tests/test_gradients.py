"""Both gradient estimators are unbiased; the pathwise one has the smaller variance."""

from __future__ import annotations

import math

import torch

from vae_tutorial.gradients import pathwise_gradients, score_function_gradients


def objective(z: torch.Tensor) -> torch.Tensor:
    return z**2  # E[z^2] = mu^2 + sigma^2, so the gradient is (2 mu, 2 sigma)


def test_both_estimators_are_unbiased() -> None:
    mu, sigma, n = 1.5, 0.7, 200_000
    true = torch.tensor([2 * mu, 2 * sigma], dtype=torch.float64)
    for estimator in (score_function_gradients, pathwise_gradients):
        g = estimator(objective, mu, sigma, n, torch.Generator().manual_seed(0))
        assert g.shape == (n, 2)
        stderr = g.std(0) / math.sqrt(n)
        assert ((g.mean(0) - true).abs() < 4 * stderr).all(), estimator.__name__


def test_pathwise_has_lower_variance() -> None:
    score = score_function_gradients(objective, 1.5, 0.7, 50_000, torch.Generator().manual_seed(1))
    path = pathwise_gradients(objective, 1.5, 0.7, 50_000, torch.Generator().manual_seed(1))
    assert (score.var(0) > 5 * path.var(0)).all()


def test_pathwise_is_exact_for_a_linear_objective() -> None:
    g = pathwise_gradients(lambda z: 3 * z, 0.0, 1.0, 10, torch.Generator().manual_seed(0))
    torch.testing.assert_close(g[:, 0], torch.full((10,), 3.0, dtype=torch.float64))
