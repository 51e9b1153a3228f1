"""The analytic testbed: closed forms against sampling and against each other."""

from __future__ import annotations

import math

import pytest
import torch

from vae_tutorial.linear_gaussian import LinearGaussian

MODEL = LinearGaussian.random(data_dim=3, latent_dim=2, sigma=0.5, seed=1)
X = MODEL.sample(4, torch.Generator().manual_seed(2))[1]


def test_marginal_matches_samples() -> None:
    _, x = MODEL.sample(200_000, torch.Generator().manual_seed(0))
    torch.testing.assert_close(x.mean(0), MODEL.b, atol=0.02, rtol=0)
    torch.testing.assert_close(
        torch.cov(x.T), MODEL.marginal().covariance_matrix, atol=0.05, rtol=0
    )


def test_bayes_rule_holds_for_the_posterior() -> None:
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    log_joint = MODEL.log_likelihood(X, z) + MODEL.log_prior(z)
    torch.testing.assert_close(MODEL.posterior(X).log_prob(z), log_joint - MODEL.log_marginal(X))


def test_elbo_gap_is_the_kl_to_the_posterior() -> None:
    g = torch.Generator().manual_seed(5)
    for _ in range(5):
        q_mean = torch.randn(4, 2, generator=g, dtype=torch.float64)
        q_log_var = torch.randn(4, 2, generator=g, dtype=torch.float64)
        gap = MODEL.log_marginal(X) - MODEL.elbo(X, q_mean, q_log_var)
        torch.testing.assert_close(
            gap, MODEL.kl_to_posterior(X, q_mean, q_log_var), rtol=1e-10, atol=1e-10
        )
        assert (gap > 0).all()


def test_elbo_equals_the_evidence_at_an_exact_posterior() -> None:
    one_dim = LinearGaussian.random(
        data_dim=2, latent_dim=1, sigma=0.5, seed=0
    )  # diagonal posterior
    x = torch.tensor([0.3, -0.2], dtype=torch.float64)
    post = one_dim.posterior(x)
    elbo = one_dim.elbo(x, post.loc, post.covariance_matrix.diagonal().log())
    assert elbo.item() == pytest.approx(one_dim.log_marginal(x).item(), abs=1e-12)


def test_elbo_matches_a_monte_carlo_estimate() -> None:
    q_mean, q_log_var = (
        torch.tensor([0.2, -0.1], dtype=torch.float64),
        torch.tensor([-1.0, -0.5], dtype=torch.float64),
    )
    z = q_mean + (0.5 * q_log_var).exp() * torch.randn(
        400_000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64
    )
    from vae_tutorial.losses import gaussian_log_density

    samples = (
        MODEL.log_likelihood(X[0], z)
        + MODEL.log_prior(z)
        - gaussian_log_density(z, q_mean, q_log_var)
    )
    assert abs(
        samples.mean() - MODEL.elbo(X[0], q_mean, q_log_var)
    ) < 4 * samples.std() / math.sqrt(len(z))


def test_estimators_of_the_evidence() -> None:
    g = torch.Generator().manual_seed(0)
    exact = MODEL.log_marginal(X[0]).item()
    assert MODEL.naive_log_marginal(X[0], 200_000, generator=g).item() == pytest.approx(
        exact, abs=0.02
    )
    assert MODEL.importance_log_marginal(X[0], 1, generator=g).item() == pytest.approx(
        exact, abs=1e-10
    )
    wide = torch.distributions.MultivariateNormal(
        torch.zeros(2, dtype=torch.float64), 4 * torch.eye(2, dtype=torch.float64)
    )
    assert MODEL.importance_log_marginal(X[0], 100_000, wide, g).item() == pytest.approx(
        exact, abs=0.02
    )


def test_bad_shapes_and_sigma_are_rejected() -> None:
    with pytest.raises(ValueError, match="sigma must be positive"):
        LinearGaussian(torch.ones(2, 1), torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match=r"W must be \(D, d\)"):
        LinearGaussian(torch.ones(2, 1), torch.zeros(3), 1.0)


def test_one_sampler_behind_both_estimators() -> None:
    x = X[0]
    log_w = MODEL.importance_log_weights(x, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(log_w, MODEL.log_marginal(x).expand(5))  # r = posterior: all p(x)
    naive = MODEL.naive_log_marginal(x, 1000, torch.Generator().manual_seed(1))
    z = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    by_hand = torch.logsumexp(MODEL.log_likelihood(x, z), 0) - math.log(1000)
    torch.testing.assert_close(naive, by_hand)


def test_log_of_an_unbiased_estimate_is_biased_down() -> None:
    x = X[0]
    g = torch.Generator().manual_seed(4)
    log_p_hat = torch.stack([MODEL.naive_log_marginal(x, 10, g) for _ in range(4000)])
    exact = MODEL.log_marginal(x)
    ratio = (log_p_hat - exact).exp()
    assert abs(ratio.mean() - 1) < 4 * ratio.std() / math.sqrt(len(ratio))  # p-hat: unbiased
    assert (log_p_hat - exact).mean() < -4 * log_p_hat.std() / math.sqrt(len(ratio))
