"""The terms of the ELBO, per example, in nats.

Shapes follow one rule: the last dimension is summed (pixels, or latent dimensions), every leading
dimension is kept. A loss over a batch is the mean of these per-example values; see
:func:`negative_elbo`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

__all__ = [
    "gaussian_kl",
    "gaussian_log_density",
    "bernoulli_log_likelihood",
    "gaussian_log_likelihood",
    "log_mean_exp",
    "NegativeELBO",
    "negative_elbo",
]

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL( N(mean, diag exp(log_var)) || N(0, I) ), summed over the last dimension.

    Kingma & Welling (2014), Appendix B:
    ``KL = -1/2 * sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)``.
    """
    return -0.5 * torch.sum(1 + log_var - mean.pow(2) - log_var.exp(), dim=-1)


def gaussian_log_density(
    z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
) -> torch.Tensor:
    """log N(z; mean, diag exp(log_var)), summed over the last dimension.

    ``-1/2 * sum_j (log 2 pi + log sigma_j^2 + (z_j - mu_j)^2 / sigma_j^2)``.
    """
    return -0.5 * torch.sum(LOG_2PI + log_var + (z - mean).pow(2) / log_var.exp(), dim=-1)


def bernoulli_log_likelihood(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for independent Bernoulli pixels with the decoder's ``logits``.

    ``sum_j x_j log lambda_j + (1 - x_j) log(1 - lambda_j)`` with ``lambda = sigmoid(logits)``,
    computed from the logits (never from probabilities) so that it stays finite.
    """
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


def gaussian_log_likelihood(mean: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x; mean, sigma^2 I), summed over pixels: a density, so it can exceed 0."""
    log_var = torch.full_like(mean, 2 * math.log(sigma))
    return gaussian_log_density(x, mean, log_var)


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log( mean_i exp(log_w_i) ) along ``dim``, without overflow or underflow.

    The log of an average of likelihood ratios: naive Monte Carlo, importance sampling and the
    IWAE bound all end in this one operation.
    """
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


class NegativeELBO(NamedTuple):
    """A batch's loss and its two parts, each averaged over the examples of the batch (nats)."""

    loss: torch.Tensor
    reconstruction: torch.Tensor
    kl: torch.Tensor


def negative_elbo(
    logits: torch.Tensor,
    x: torch.Tensor,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    kl: torch.Tensor | None = None,
) -> NegativeELBO:
    """The VAE loss: -ELBO per example (a sum over pixels and latent dimensions), batch-averaged.

    ``-ELBO(x) = -log p(x | z) + KL(q(z|x) || p(z))`` with one reparameterized sample z, whose
    decoder output is ``logits``. The KL is the closed form for p(z) = N(0, I), unless each
    example's ``kl`` is given (a model's ``prior.kl``, for any prior).
    """
    reconstruction = -bernoulli_log_likelihood(logits, x).mean()
    kl = (gaussian_kl(mean, log_var) if kl is None else kl).mean()
    return NegativeELBO(reconstruction + kl, reconstruction, kl)
