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


def test_closed_form_variances_match_monte_carlo() -> None:
    from vae_tutorial.gradients import (
        pathwise_variance_of_square,
        score_function_variance_of_square,
    )

    mu, sigma, n = 1.5, 0.7, 1_000_000
    for baseline in (0.0, mu**2 + sigma**2):
        shifted = score_function_gradients(
            lambda z, c=baseline: z**2 - c, mu, sigma, n, torch.Generator().manual_seed(2)
        )
        torch.testing.assert_close(
            shifted.var(0),
            score_function_variance_of_square(mu, sigma, baseline),
            rtol=0.03,
            atol=0,
        )
    path = pathwise_gradients(objective, mu, sigma, n, torch.Generator().manual_seed(3))
    torch.testing.assert_close(
        path.var(0), pathwise_variance_of_square(mu, sigma), rtol=0.01, atol=0
    )


def test_closed_form_variances_at_the_chapter_point() -> None:
    from vae_tutorial.gradients import (
        pathwise_variance_of_square,
        score_function_variance_of_square,
    )

    score = score_function_variance_of_square(1.5, 0.7)
    path = pathwise_variance_of_square(1.5, 0.7)
    torch.testing.assert_close(path, torch.tensor([1.96, 12.92], dtype=torch.float64))
    assert 25.0 < (score / path)[0].item() < 25.2  # the ratio for d/dmu is about 25


def test_encoder_mean_gradients_agree_on_average() -> None:
    from vae_tutorial.gradients import encoder_mean_gradients
    from vae_tutorial.model import VAE, VAEConfig

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(32,)))
    x = torch.bernoulli(torch.full((784,), 0.2), generator=torch.Generator().manual_seed(1))
    est = encoder_mean_gradients(model, x, 200_000, torch.Generator().manual_seed(2))
    assert est.f.shape == (200_000,) and est.pathwise.shape == est.grad_log_q.shape == (200_000, 3)
    score = (est.f - est.f.mean())[:, None] * est.grad_log_q
    stderr = (score.std(0) ** 2 + est.pathwise.std(0) ** 2).sqrt() / math.sqrt(200_000)
    assert ((score.mean(0) - est.pathwise.mean(0)).abs() < 4 * stderr).all()
    assert (score.var(0) > est.pathwise.var(0)).all()


def test_optimal_baselines_of_square_minimize_the_closed_form() -> None:
    from vae_tutorial.gradients import (
        optimal_baselines_of_square,
        score_function_variance_of_square,
    )

    mu, sigma = 1.5, 0.7
    c_mu, c_sigma = optimal_baselines_of_square(mu, sigma)
    assert math.isclose(c_mu, mu**2 + 3 * sigma**2) and math.isclose(c_sigma, mu**2 + 5 * sigma**2)
    best = score_function_variance_of_square(mu, sigma, (c_mu, c_sigma))
    exact = [8 * mu**2 + 6 * sigma**2, 40 * mu**2 + 24 * sigma**2]
    torch.testing.assert_close(best, torch.tensor(exact, dtype=torch.float64))
    assert math.isclose(best[0].item(), 20.94, abs_tol=1e-9)
    usual = score_function_variance_of_square(mu, sigma, mu**2 + sigma**2)
    torch.testing.assert_close(usual, torch.tensor([22.90, 117.44], dtype=torch.float64))
    for delta in (-0.1, 0.1):
        moved = score_function_variance_of_square(mu, sigma, (c_mu + delta, c_sigma + delta))
        assert (moved > best).all()


def test_optimal_baselines_estimated_from_samples() -> None:
    from vae_tutorial.gradients import optimal_baselines, optimal_baselines_of_square

    mu, sigma, n = 1.5, 0.7, 1_000_000
    eps = torch.randn(n, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    z = mu + sigma * eps
    score = torch.stack([eps / sigma, (eps**2 - 1) / sigma], dim=1)
    estimated = optimal_baselines(z**2, score)
    exact = torch.tensor(optimal_baselines_of_square(mu, sigma), dtype=torch.float64)
    torch.testing.assert_close(estimated, exact, rtol=0.01, atol=0)


def test_the_score_function_can_beat_the_pathwise_estimator() -> None:
    # For a rapidly oscillating f the pathwise estimates f'(z) = -w sin(w z) have variance of order
    # w^2, while |f| <= 1 keeps the score function's d/dmu variance below E[eps^2] / sigma^2.
    def f(z: torch.Tensor) -> torch.Tensor:
        return torch.cos(50 * z)

    score = score_function_gradients(f, 0.0, 1.0, 100_000, torch.Generator().manual_seed(5))
    path = pathwise_gradients(f, 0.0, 1.0, 100_000, torch.Generator().manual_seed(5))
    assert score.var(0)[0] < 1.0 < 100 < path.var(0)[0]
