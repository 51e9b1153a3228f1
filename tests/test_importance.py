"""The effective sample size, measured, against its closed form for Gaussians."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vae_tutorial.importance import effective_sample_size, gaussian_weight_second_moment


def _gaussian(loc: list[float], cov: list[list[float]]) -> MultivariateNormal:
    return MultivariateNormal(
        torch.tensor(loc, dtype=torch.float64), torch.tensor(cov, dtype=torch.float64)
    )


def test_effective_sample_size_of_equal_and_of_one_dominant_weight() -> None:
    assert effective_sample_size(torch.zeros(50)).item() == pytest.approx(50.0)
    assert effective_sample_size(torch.tensor([0.0, -800.0, -900.0])).item() == pytest.approx(1.0)
    batched = effective_sample_size(torch.zeros(7, 3), dim=0)
    torch.testing.assert_close(batched, torch.full((3,), 7.0))


def test_second_moment_of_a_scaled_proposal_in_one_dimension() -> None:
    p = _gaussian([0.3], [[2.0]])
    for rho in (0.6, 1.0, 1.5, 4.0):  # r = N(m, rho S)
        r = _gaussian([0.3], [[2.0 * rho]])
        want = rho / math.sqrt(2 * rho - 1)
        assert gaussian_weight_second_moment(p, r).item() == pytest.approx(want, rel=1e-12)
    assert gaussian_weight_second_moment(p, _gaussian([0.3], [[1.0]])).item() == math.inf


def test_second_moment_matches_monte_carlo() -> None:
    p = _gaussian([1.0, -0.5], [[1.0, 0.6], [0.6, 2.0]])
    r = _gaussian([0.5, 0.0], [[2.0, 0.0], [0.0, 3.0]])
    z = r.sample((2_000_000,))
    w = (p.log_prob(z) - r.log_prob(z)).exp()
    exact = gaussian_weight_second_moment(p, r).item()
    assert w.mean().item() == pytest.approx(1.0, abs=0.005)
    assert w.pow(2).mean().item() == pytest.approx(exact, rel=0.02)
    ess = effective_sample_size(p.log_prob(z) - r.log_prob(z))
    assert (ess / len(z)).item() == pytest.approx(1 / exact, rel=0.02)


def test_weights_of_a_wide_proposal_are_bounded() -> None:
    # For r = N(m, rho S) with rho >= 1, p / r = rho^(d/2) exp(-(1 - 1/rho) q / 2) <= rho^(d/2).
    p = _gaussian([1.0, -0.5], [[1.0, 0.6], [0.6, 2.0]])
    rho = 1.5
    r = MultivariateNormal(p.loc, covariance_matrix=rho * p.covariance_matrix)
    z = r.sample((100_000,))
    log_w = p.log_prob(z) - r.log_prob(z)
    assert log_w.max().item() <= math.log(rho) + 1e-12
    assert log_w.max().item() > math.log(rho) - 0.01  # draws near the mean come close to it
