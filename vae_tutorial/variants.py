"""The model a configuration describes: :func:`build_model`, above every variant it can build.

A :class:`~vae_tutorial.model.VAEConfig` records the architecture and the variant, so a checkpoint
rebuilds its own model. The variants live in their own modules (:mod:`vae_tutorial.model` for the
VAE and the conditional VAE, :mod:`vae_tutorial.autoregressive` for the autoregressive decoder);
this module sits above them all, so that none of them imports another to build it.
"""

from __future__ import annotations

from vae_tutorial.autoregressive import AutoregressiveVAE
from vae_tutorial.model import VAE, ConditionalVAE, VAEConfig

__all__ = ["build_model"]


def build_model(config: VAEConfig) -> VAE:
    """The model ``config`` describes: an :class:`~vae_tutorial.autoregressive.AutoregressiveVAE`
    if ``autoregressive``, a :class:`~vae_tutorial.model.ConditionalVAE` if ``n_classes``, else a
    :class:`~vae_tutorial.model.VAE`."""
    if config.autoregressive:
        return AutoregressiveVAE(config)
    return ConditionalVAE(config) if config.n_classes else VAE(config)
