"""What training minimizes: the negative ELBO, a variant of it with β, KL warm-up and free bits, or
the importance-weighted bound.

The ELBO's two terms are kept apart so that the KL term can be reweighted or floored:

    loss = reconstruction + w(t) * sum_j max(λ, KL_j),   KL_j = (1/B) sum_b KL(q(z_j|x_b) || p(z_j))

- β (Higgins et al. 2017) is the KL term's weight once warm-up is over: β > 1 pushes the code
  towards the prior, β < 1 lets it carry more information.
- KL warm-up (Bowman et al. 2016) raises the weight linearly from 0 to β over the first epochs,
  one small increase per optimizer step, so that the decoder learns to use z before the KL term
  can switch z off: ``w(t) = β * min(1, t / T)``, with t the optimizer steps taken before this one
  and T the steps in ``kl_warmup_epochs`` epochs.
- Free bits λ (Kingma et al. 2016, the inverse autoregressive flow paper) gives every latent
  dimension a KL allowance of λ nats: a dimension whose batch-averaged KL is below λ costs λ and
  receives no gradient from the KL term, so the optimizer has no reason to shut it off.

- Importance samples k (Burda et al. 2016): with k > 1 training minimizes -L_k, the importance-
  weighted bound of the evaluation chapter, ``L_k(x) = log (1/k) sum_i p(x, z_i) / q(z_i|x)``
  with k reparameterized draws z_i ~ q(z|x). L_k >= ELBO, so the model is trained on a tighter
  bound on log p(x); it has no separate KL term, so it takes none of the three knobs above.

The defaults (β = 1, no warm-up, λ = 0, k = 1) are the plain negative ELBO, computed exactly as
:func:`vae_tutorial.losses.negative_elbo` computes it. Whatever the objective, the reported
reconstruction and KL are the true terms, so the logged negative ELBO stays comparable across runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vae_tutorial.losses import NegativeELBO, gaussian_kl, log_mean_exp

__all__ = ["Objective", "objective_loss", "free_bits_kl", "importance_weighted_loss"]


@dataclass(frozen=True)
class Objective:
    """The KL term's knobs, and the importance samples. Recorded with the run
    (``TrainConfig.objective``)."""

    beta: float = 1.0
    """β: the KL term's weight after warm-up (1: the ELBO)."""
    kl_warmup_epochs: int = 0
    """Epochs over which the weight rises linearly from 0 to β, step by step (0: no warm-up)."""
    free_bits: float = 0.0
    """λ: nats of KL per latent dimension that cost nothing extra (0: none)."""
    importance_samples: int = 1
    """k: draws of z per example; k > 1 minimizes -L_k instead of the negative ELBO."""

    def __post_init__(self) -> None:
        if isinstance(self.beta, bool) or not isinstance(self.beta, int | float):
            raise TypeError(f"beta must be a number, got {self.beta!r}")
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise ValueError(f"beta must be a finite number >= 0, got {self.beta!r}")
        if (
            isinstance(self.kl_warmup_epochs, bool)
            or not isinstance(self.kl_warmup_epochs, int)
            or self.kl_warmup_epochs < 0
        ):
            raise ValueError(
                f"kl_warmup_epochs must be an integer >= 0, got {self.kl_warmup_epochs!r}"
            )
        if isinstance(self.free_bits, bool) or not isinstance(self.free_bits, int | float):
            raise TypeError(f"free_bits must be a number, got {self.free_bits!r}")
        if not (math.isfinite(self.free_bits) and self.free_bits >= 0):
            raise ValueError(
                f"free_bits must be a finite number of nats >= 0, got {self.free_bits!r}"
            )
        k = self.importance_samples
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"importance_samples must be an integer >= 1, got {k!r}")
        if k > 1 and (self.beta != 1 or self.kl_warmup_epochs or self.free_bits):
            raise ValueError(
                f"importance_samples={k} trains the importance-weighted bound, which has no "
                "separate KL term to weight or floor: keep beta=1, kl_warmup_epochs=0 and "
                "free_bits=0 with it, or use importance_samples=1"
            )
        object.__setattr__(self, "beta", float(self.beta))
        object.__setattr__(self, "free_bits", float(self.free_bits))

    @property
    def is_elbo(self) -> bool:
        """Whether this is the plain negative ELBO (β = 1, no warm-up, no free bits, k = 1)."""
        return (
            self.beta == 1.0
            and self.kl_warmup_epochs == 0
            and self.free_bits == 0.0
            and self.importance_samples == 1
        )

    def kl_weight(self, step: int, steps_per_epoch: int) -> float:
        """w(t) = β * min(1, t / T): the KL weight for the optimizer step after ``step`` steps.

        ``T = kl_warmup_epochs * steps_per_epoch``; without warm-up, w = β at every step.
        """
        if step < 0 or steps_per_epoch < 1:
            raise ValueError(
                f"need step >= 0 and steps_per_epoch >= 1, got {step} and {steps_per_epoch}"
            )
        warmup_steps = self.kl_warmup_epochs * steps_per_epoch
        if step >= warmup_steps:
            return self.beta
        return self.beta * step / warmup_steps

    def describe(self) -> str:
        """One line, e.g. ``"-ELBO"`` or ``"rec + 4 * sum_j max(0.5, KL_j), warm-up 10 epochs"``."""
        if self.is_elbo:
            return "-ELBO"
        if self.importance_samples > 1:
            return f"-L_{self.importance_samples} (importance-weighted bound)"
        kl = f"sum_j max({self.free_bits:g}, KL_j)" if self.free_bits else "KL"
        text = f"rec + {self.beta:g} * {kl}"
        if self.kl_warmup_epochs:
            text += f", weight rising from 0 over {self.kl_warmup_epochs} epochs"
        return text


def free_bits_kl(
    mean: torch.Tensor,
    log_var: torch.Tensor,
    free_bits: float,
    kl_per_dimension: torch.Tensor | None = None,
) -> torch.Tensor:
    """sum_j max(λ, KL_j), with KL_j = (1/B) sum_b KL(q(z_j|x_b) || p(z_j)) (Kingma et al. 2016).

    ``mean`` and ``log_var`` are ``(B, d)``; each example's KL is the closed form to N(0, 1),
    unless ``kl_per_dimension`` ``(B, d)`` is given (a model's ``prior.kl_per_dimension``). The
    allowance is per dimension and on the batch average, as in Kingma et al.: below λ a
    dimension's term is the constant λ, so its gradient is zero; above λ it is the dimension's KL.
    """
    if kl_per_dimension is None:
        kl_per_dimension = gaussian_kl(mean.unsqueeze(-1), log_var.unsqueeze(-1))
    per_dimension = kl_per_dimension.mean(dim=0)
    return torch.clamp(per_dimension, min=free_bits).sum()


def objective_loss(
    elbo: NegativeELBO,
    mean: torch.Tensor,
    log_var: torch.Tensor,
    kl_weight: float = 1.0,
    free_bits: float = 0.0,
    kl_per_dimension: torch.Tensor | None = None,
) -> NegativeELBO:
    """The value to minimize, ``rec + w * sum_j max(λ, KL_j)``, beside the true terms.

    ``elbo`` is the batch's negative ELBO (its ``reconstruction`` and ``kl``); ``mean`` and
    ``log_var`` are the encoder's outputs it was computed from, ``kl_per_dimension`` the prior's
    KL_j if it is not N(0, I) (:func:`free_bits_kl`). Returns ``elbo`` with only ``loss``
    replaced: ``reconstruction`` and ``kl`` stay the true terms. With w = 1 and λ = 0 the loss is
    ``reconstruction + kl``, bit for bit the negative ELBO.
    """
    kl_term = (
        elbo.kl if free_bits == 0 else free_bits_kl(mean, log_var, free_bits, kl_per_dimension)
    )
    return elbo._replace(loss=elbo.reconstruction + kl_weight * kl_term)


def importance_weighted_loss(elbo: NegativeELBO, log_w: torch.Tensor) -> NegativeELBO:
    """-L_k averaged over the batch, beside the true terms (Burda et al. 2016).

    ``log_w`` is ``(k, B)``: log w_i = log p(x, z_i) - log q(z_i|x) for k draws z_i ~ q(z|x).
    ``-L_k = -(1/B) sum_b log (1/k) sum_i w_ib``; its gradient weights each draw's by its
    normalized weight w_i / sum_j w_j. Returns ``elbo`` (the negative ELBO and its parts,
    estimated with the same draws) with only ``loss`` replaced.
    """
    return elbo._replace(loss=-log_mean_exp(log_w, dim=0).mean())
