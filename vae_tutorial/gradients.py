"""Two unbiased estimators of d/d(mu, sigma) E_{z ~ N(mu, sigma^2)} [f(z)].

- Score function (REINFORCE; Williams, 1992): f(z) * d/dtheta log N(z; mu, sigma^2). Needs only
  values of f, but its variance is large.
- Pathwise (reparameterization; Kingma & Welling, 2014; Rezende et al., 2014): write
  z = mu + sigma * eps with eps ~ N(0, 1) and differentiate f(mu + sigma * eps). Needs f' but has
  far smaller variance for smooth f.

Each function returns one estimate per sample, shape ``(n, 2)`` for (d/dmu, d/dsigma), so that the
mean, the standard error and the variance of an n-sample average can all be computed from it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["score_function_gradients", "pathwise_gradients"]

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
