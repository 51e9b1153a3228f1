"""Two unbiased estimators of d/d(mu, sigma) E_{z ~ N(mu, sigma^2)} [f(z)].

- Score function (REINFORCE; Williams, 1992): f(z) * d/dtheta log N(z; mu, sigma^2). Needs only
  values of f, but its variance is large.
- Pathwise (reparameterization; Kingma & Welling, 2014; Rezende et al., 2014): write
  z = mu + sigma * eps with eps ~ N(0, 1) and differentiate f(mu + sigma * eps). Needs f' but has
  far smaller variance for smooth f.

Each function returns one estimate per sample, shape ``(n, 2)`` for (d/dmu, d/dsigma), so that the
mean, the standard error and the variance of an n-sample average can all be computed from it.

A constant baseline c turns the score-function estimate into (f(z) - c) s(z), s the score; it stays
unbiased because E[s] = 0. The usual choice is c = E[f]; the one that minimizes the variance of
coordinate j is c_j* = E[f s_j^2] / E[s_j^2] (:func:`optimal_baselines`).

For the chapter's example f(z) = z^2 both variances have closed forms
(:func:`score_function_variance_of_square`, :func:`pathwise_variance_of_square`,
:func:`optimal_baselines_of_square`), so that a measured variance can be checked against the exact
one. :func:`encoder_mean_gradients` draws both estimators for a trained VAE, where
f(z) = log p(x | z) is the decoder's log-likelihood.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch

from vae_tutorial.losses import bernoulli_log_likelihood
from vae_tutorial.model import reparameterize

if TYPE_CHECKING:
    from vae_tutorial.model import VAE

__all__ = [
    "score_function_gradients",
    "pathwise_gradients",
    "score_function_variance_of_square",
    "pathwise_variance_of_square",
    "optimal_baselines",
    "optimal_baselines_of_square",
    "EncoderGradientSamples",
    "encoder_mean_gradients",
]

Objective = Callable[[torch.Tensor], torch.Tensor]


def _noise(n: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(n, generator=generator, dtype=torch.float64)


def score_function_gradients(
    f: Objective, mu: float, sigma: float, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample score-function estimates: f(z) * (d/dmu, d/dsigma) log N(z; mu, sigma^2).

    d/dmu log N = (z - mu) / sigma^2 and d/dsigma log N = ((z - mu)^2 - sigma^2) / sigma^3.
    """
    z = mu + sigma * _noise(n, generator)
    value = f(z).detach()
    score = torch.stack([(z - mu) / sigma**2, ((z - mu) ** 2 - sigma**2) / sigma**3], dim=1)
    return value[:, None] * score


def pathwise_gradients(
    f: Objective, mu: float, sigma: float, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Per-sample pathwise estimates: autograd through z = mu + sigma * eps.

    d/dmu f(z) = f'(z) and d/dsigma f(z) = f'(z) * eps.
    """
    mus = torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True)
    sigmas = torch.full((n,), float(sigma), dtype=torch.float64, requires_grad=True)
    z = mus + sigmas * _noise(n, generator)  # one copy of (mu, sigma) per sample
    d_mu, d_sigma = torch.autograd.grad(f(z).sum(), [mus, sigmas])
    return torch.stack([d_mu, d_sigma], dim=1)


def score_function_variance_of_square(
    mu: float, sigma: float, baseline: float | tuple[float, float] = 0.0
) -> torch.Tensor:
    """Exact per-sample variances of the score-function estimates for f(z) = z^2 - c.

    With z = mu + sigma * eps, a = mu^2 - c and the Gaussian moments E eps^2 = 1, E eps^4 = 3,
    E eps^6 = 15, E eps^8 = 105 (odd moments 0), the estimates f(z) eps / sigma and
    f(z) (eps^2 - 1) / sigma have means 2 mu and 2 sigma and variances

        Var d/dmu    = (a^2 + 6 a s^2 + 12 mu^2 s^2 + 15 s^4) / s^2 - 4 mu^2,
        Var d/dsigma = (2 a^2 + 20 a s^2 + 40 mu^2 s^2 + 78 s^4) / s^2 - 4 s^2,

    writing s for sigma.

    ``baseline`` is one c for both, or a pair (c for d/dmu, c for d/dsigma).
    Returns ``(Var d/dmu, Var d/dsigma)``; an n-sample average has 1/n of each.
    """
    c_mu, c_sigma = baseline if isinstance(baseline, tuple) else (baseline, baseline)
    m2, s2 = mu**2, sigma**2
    a = m2 - c_mu
    d_mu = (a**2 + 6 * a * s2 + 12 * m2 * s2 + 15 * s2**2) / s2 - 4 * m2
    a = m2 - c_sigma
    d_sigma = (2 * a**2 + 20 * a * s2 + 40 * m2 * s2 + 78 * s2**2) / s2 - 4 * s2
    return torch.tensor([d_mu, d_sigma], dtype=torch.float64)


def optimal_baselines_of_square(mu: float, sigma: float) -> tuple[float, float]:
    """The variance-minimizing constants c_j* = E[f s_j^2] / E[s_j^2] for f(z) = z^2.

    The variances above are quadratics in a = mu^2 - c, smallest at a = -3 sigma^2 for d/dmu and
    a = -5 sigma^2 for d/dsigma: c* = (mu^2 + 3 sigma^2, mu^2 + 5 sigma^2), where the variances
    are 8 mu^2 + 6 sigma^2 and 40 mu^2 + 24 sigma^2. The usual baseline E[f] = mu^2 + sigma^2 is
    neither.
    """
    return mu**2 + 3 * sigma**2, mu**2 + 5 * sigma**2


def optimal_baselines(f: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    """Sample estimate of c_j* = E[f s_j^2] / E[s_j^2], one constant per coordinate j.

    ``f`` has shape ``(n,)``, ``score`` ``(n, d)``. The variance of (f - c) s_j is
    E[f^2 s_j^2] - 2 c E[f s_j^2] + c^2 E[s_j^2] - (E[f s_j])^2, a quadratic in c whose minimum
    is at c_j*. Estimated from the same draws it is applied to, it slightly understates the
    variance that a baseline fixed in advance would give.
    """
    s2 = score.pow(2)
    return (f[:, None] * s2).sum(0) / s2.sum(0)


def pathwise_variance_of_square(mu: float, sigma: float) -> torch.Tensor:
    """Exact per-sample variances of the pathwise estimates for f(z) = z^2.

    f'(z) = 2 (mu + sigma eps) has variance 4 sigma^2; f'(z) eps = 2 mu eps + 2 sigma eps^2 has
    variance 4 mu^2 + 8 sigma^2 (Var eps^2 = 2, Cov(eps, eps^2) = E eps^3 = 0). A baseline
    changes nothing here: the pathwise estimator never sees the value of f.
    Returns ``(Var d/dmu, Var d/dsigma)``.
    """
    return torch.tensor([4 * sigma**2, 4 * mu**2 + 8 * sigma**2], dtype=torch.float64)


class EncoderGradientSamples(NamedTuple):
    """Per-sample pieces of the two estimators of d/dmu E_{q(z|x)}[f(z)], f(z) = log p(x | z).

    The score-function estimate with baseline c is ``(f - c)[:, None] * grad_log_q``; the
    pathwise estimate is ``pathwise``.
    """

    f: torch.Tensor
    """f(z_i) = log p(x | z_i), shape ``(n,)``."""
    grad_log_q: torch.Tensor
    """d/dmu log q(z_i | x) = (z_i - mu) / sigma^2, shape ``(n, d)``."""
    pathwise: torch.Tensor
    """d/dz f(z_i), which equals d/dmu f(mu + sigma * eps_i), shape ``(n, d)``."""


def encoder_mean_gradients(
    model: VAE, x: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> EncoderGradientSamples:
    """Both gradient estimators at the encoder's mean output, for one image ``x`` of shape (784,).

    z_i = reparameterize(mu, log sigma^2), with (mu, log sigma^2) = encode(x) held fixed: the
    model's own sampler. The score function uses f(z_i) (z_i - mu) / sigma^2, the pathwise
    estimator d/dz log p(x | z_i). Both estimate the same gradient, which backpropagation would
    pass on to the encoder's weights. The noise is drawn on ``generator``'s device.
    """
    with torch.no_grad():
        mean, log_var = (t[0].expand(n, -1) for t in model.encode(x[None]))
    where = generator.device if generator is not None else mean.device
    z = reparameterize(mean.to(where), log_var.to(where), generator).to(mean.device)
    z.requires_grad_()
    f = bernoulli_log_likelihood(model.decode(z), x.expand(n, -1))
    (d_z,) = torch.autograd.grad(f.sum(), z)
    return EncoderGradientSamples(f.detach(), (z.detach() - mean) / log_var.exp(), d_z)
