"""A decoder strong enough to ignore z: each pixel also reads the pixels before it.

The factorized decoder p(x|z) = prod_i Bernoulli(x_i; sigmoid(a_i(z))) cannot model the data
without z: its pixels are independent given z, so all the structure of a digit must come through
the code. An autoregressive decoder

    p(x | z) = prod_i Bernoulli(x_i; sigmoid(a_i(z) + sum_{j<i} W_ij x_j)),

with W strictly lower-triangular (pixels in raster order), is a logistic autoregressive model
whose biases a(z) depend on z. Without z it is still a model of digits, so the KL term can be
saved by switching z off: the posterior collapse Bowman et al. (2016) met with an LSTM decoder,
here with a one-layer autoregression.

It plugs into the same training loop and the same ``VAE.loss`` as every VAE: only the scoring of
an image (:meth:`AutoregressiveVAE.score_logits`, which reads the scored image's earlier pixels,
teacher-forced) differs. Sampling is pixel by pixel.
"""

from __future__ import annotations

import torch
from torch import nn

from vae_tutorial.model import VAE, VAEConfig

__all__ = ["MaskedLinear", "AutoregressiveVAE"]


class MaskedLinear(nn.Linear):
    """``x -> x @ (W * M).T`` with M strictly lower-triangular: output i reads inputs j < i only."""

    def __init__(self, n: int) -> None:
        super().__init__(n, n, bias=False)
        nn.init.zeros_(self.weight)  # start as the factorized decoder
        self.register_buffer("mask", torch.ones(n, n).tril(diagonal=-1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask)


class AutoregressiveVAE(VAE):
    """The MLP VAE with an autoregressive decoder (``VAEConfig(autoregressive=True)``)."""

    def __init__(self, config: VAEConfig) -> None:
        if not config.autoregressive:
            raise ValueError("an AutoregressiveVAE needs VAEConfig(autoregressive=True)")
        super().__init__(config)
        self.autoregression = MaskedLinear(config.input_dim)

    def score_logits(
        self, z: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of p(x_i | z, x_<i) for every pixel i of the image x being scored.

        ``z`` may carry leading sample dimensions ``(..., batch, d)``; ``x`` is ``(batch, 784)``.
        """
        return self.decode(z) + self.autoregression(x)

    @torch.no_grad()
    def sample_means(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        raise NotImplementedError(
            "an autoregressive decoder has no per-pixel means given z alone (each pixel depends "
            "on the ones drawn before it): use sample(), which draws pixel by pixel"
        )

    @torch.no_grad()
    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        y: torch.Tensor | None = None,
        z: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x ~ p(x|z) pixel by pixel in raster order, for n codes z ~ p(z) (or the given ``z``)."""
        device = self.to_logits.weight.device
        if z is None:
            z = self.prior.sample(n, generator)
        base = self.decode(z.to(device)).cpu()
        weight = (self.autoregression.weight * self.autoregression.mask).cpu()
        x = torch.zeros(len(base), self.config.input_dim)
        for i in range(self.config.input_dim):
            p = torch.sigmoid(base[:, i] + x @ weight[i])
            x[:, i] = torch.bernoulli(p, generator=generator)
        return x.to(device)
