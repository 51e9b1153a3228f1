"""Automatic checks for the common VAE mistakes of chapter 13.

Each check looks at a model (anything with the package's ``encode``, ``decode``, ``forward`` and
``loss``) on one batch and returns a plain-words diagnosis, or ``None`` when it finds nothing:

- :func:`check_decoder_floor`: no pixel probability sigmoid(decode(z)) can go below 1/2, the mark
  of a ReLU (or a sigmoid) before the decoder's last sigmoid;
- :func:`check_kl`: a KL divergence below 0, which no KL can be;
- :func:`check_loss_composition`: a loss below its own reconstruction term, the mark of a KL
  subtracted instead of added;
- :func:`check_encoder_gradient`: no gradient of the reconstruction term reaches the encoder, the
  mark of a z drawn outside the reparameterization (``torch.normal(mean, std)``).

:func:`diagnose` runs them all; the training loop logs what it finds after the first epoch.
"""

from __future__ import annotations

import torch

from vae_tutorial.data import Batch, as_batch

__all__ = [
    "check_decoder_floor",
    "check_kl",
    "check_loss_composition",
    "check_encoder_gradient",
    "diagnose",
]


@torch.no_grad()
def check_decoder_floor(model: torch.nn.Module, n: int = 256, seed: int = 0) -> str | None:
    """Flag a decoder whose pixel probabilities are all >= 1/2 for n codes z ~ N(0, I)."""
    d = model.config.latent_dim
    device = next(model.parameters()).device
    z = torch.randn(n, d, generator=torch.Generator().manual_seed(seed)).to(device)
    y = torch.arange(n, device=device) % model.config.n_classes if model.config.n_classes else None
    logits = model.decode(z) if y is None else model.decode(z, y)
    p = torch.sigmoid(logits)
    if p.min().item() >= 0.5:
        return (
            f"every pixel probability sigmoid(decode(z)) is >= {p.min().item():.3f} for {n} "
            "codes z ~ p(z), so a blank pixel can never be predicted: is there a ReLU or a "
            "sigmoid before the decoder's last sigmoid? decode(z) must return unbounded logits"
        )
    return None


def check_kl(kl: torch.Tensor) -> str | None:
    """Flag a KL term below zero (beyond rounding)."""
    if (kl < -1e-4).any():
        return (
            f"the KL term is negative ({kl.min().item():.4g}); a KL divergence is never "
            "negative: check its formula, 0.5 * sum(mean^2 + exp(log_var) - 1 - log_var)"
        )
    return None


def check_loss_composition(loss: torch.Tensor, reconstruction: torch.Tensor) -> str | None:
    """Flag a loss below its reconstruction term: the KL (>= 0) was subtracted, not added."""
    if loss.item() < reconstruction.item() - 1e-4:
        return (
            f"the loss ({loss.item():.4g}) is below its reconstruction term "
            f"({reconstruction.item():.4g}): the KL is being subtracted; minimize rec + KL"
        )
    return None


def check_encoder_gradient(model: torch.nn.Module, batch: Batch) -> str | None:
    """Flag an encoder that no gradient of the reconstruction term reaches."""
    logits, _, _ = model(batch.x, batch.y)
    reconstruction = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, batch.target, reduction="sum"
    )
    prefixes = ("encoder.", "to_mean.", "to_log_var.")
    encoder = [p for name, p in model.named_parameters() if name.startswith(prefixes)]
    grads = torch.autograd.grad(reconstruction, encoder, allow_unused=True)
    if all(g is None or not g.any() for g in grads):
        return (
            "no gradient of the reconstruction term reaches the encoder: z is not a differentiable "
            "function of its mean and variance (torch.normal(mean, std) passes back zeros); use "
            "z = mean + std * eps with eps ~ N(0, I)"
        )
    return None


def diagnose(model: torch.nn.Module, batch: Batch | torch.Tensor) -> list[str]:
    """Every check's diagnosis for ``model`` on ``batch``: an empty list when all pass."""
    batch = as_batch(batch)
    was_training = model.training
    model.eval()
    try:
        found = [check_decoder_floor(model)]
        with torch.no_grad():
            out = model.loss(batch)
        found += [check_kl(out.kl), check_loss_composition(out.loss, out.reconstruction)]
        found.append(check_encoder_gradient(model, batch))
    finally:
        model.train(was_training)
    return [message for message in found if message is not None]
