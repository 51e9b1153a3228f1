"""The VAE's parts. So far: the reparameterized sample that connects encoder and decoder."""

from __future__ import annotations

import torch

__all__ = ["reparameterize"]


def reparameterize(
    mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw z ~ N(mean, diag exp(log_var)) as a differentiable function of (mean, log_var).

    ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(log_var / 2)``: the noise
    carries the randomness, so gradients flow to mu and log_var (Kingma & Welling, 2014).
    """
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + torch.exp(0.5 * log_var) * eps
