"""The prior p(z) as one swappable module: :class:`Prior`, with the standard normal as the default.

Everything that needs p(z) asks the model's ``prior``: the ELBO's KL term (``VAE.loss``), free
bits, -L_k and the importance-weighted bound (``log p(x, z) = log p(x|z) + prior.log_prob(z)``),
the KL per dimension of the diagnostics, and sampling (``prior.sample``). A new prior is a
subclass that defines :meth:`Prior.log_prob` and :meth:`Prior.sample` (and, for free bits and
``kl_per_dimension``, :meth:`Prior.marginal_log_prob`); the loss and the evaluator need no change:

- :class:`StandardNormalPrior`: p(z) = N(0, I), with the KL in closed form. It has no parameters
  or buffers, so a model's state dict is the same with it as without it.
- :class:`MixtureOfGaussiansPrior`: p(z) = sum_k pi_k N(z; mu_k, diag sigma_k^2), all learned; the
  KL has no closed form, so it is estimated by Monte Carlo from the drawn z.

A VampPrior (Tomczak & Welling 2018), a mixture of the encoder's posteriors at K learned
pseudo-inputs, fits the same interface: a subclass holding the pseudo-inputs and given the
encoder, whose ``log_prob`` encodes them and evaluates the mixture.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from vae_tutorial.losses import LOG_2PI, gaussian_kl, gaussian_log_density

__all__ = [
    "Prior",
    "StandardNormalPrior",
    "MixtureOfGaussiansPrior",
    "PRIORS",
    "build_prior",
    "check_prior_config",
]


class Prior(nn.Module):
    """p(z) over ``latent_dim`` dimensions. Subclasses define :meth:`log_prob` and
    :meth:`sample`; the KL terms default to Monte Carlo estimates at the drawn z."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim

    @classmethod
    def from_config(cls, config: Any) -> Prior:
        """The prior of a :class:`~vae_tutorial.model.VAEConfig` (its ``latent_dim``)."""
        return cls(config.latent_dim)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z), summed over the last dimension: ``(..., d) -> (...)``."""
        raise NotImplementedError(f"{type(self).__name__} must define log_prob(z)")

    def marginal_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z_j) of each coordinate under its marginal: ``(..., d) -> (..., d)``."""
        raise NotImplementedError(
            f"{type(self).__name__} defines no marginal_log_prob(z), which free bits and "
            "kl_per_dimension need: the KL of each latent dimension to its marginal prior"
        )

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n draws z ~ p(z), ``(n, d)``, made on the CPU (so a seeded generator gives the same z
        on any device) and without gradients: move them with ``.to(device)``."""
        raise NotImplementedError(f"{type(self).__name__} must define sample(n, generator)")

    def kl(self, z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per example, for q = N(mean, diag exp(log_var)) and its draws z.

        Here the Monte Carlo estimate ``log q(z|x) - log p(z)`` at each draw, ``(..., batch)``
        for z ``(..., batch, d)``: unbiased, and differentiable through the reparameterized z.
        A prior with a closed form overrides it."""
        return gaussian_log_density(z, mean, log_var) - self.log_prob(z)

    def kl_per_dimension(
        self, z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
    ) -> torch.Tensor:
        """KL(q(z_j|x) || p(z_j)) of each dimension j, ``(..., batch, d)``: free bits' KL_j.

        Here the Monte Carlo estimate ``log q(z_j|x) - log p(z_j)`` at the draws z, with p(z_j)
        the marginal (:meth:`marginal_log_prob`). For a prior that does not factorize, these
        do not add up to :meth:`kl`."""
        log_q = gaussian_log_density(z.unsqueeze(-1), mean.unsqueeze(-1), log_var.unsqueeze(-1))
        return log_q - self.marginal_log_prob(z)


class StandardNormalPrior(Prior):
    """p(z) = N(0, I): the VAE's prior since Kingma & Welling (2014). No parameters."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z; 0, I) = -1/2 * sum_j (log 2 pi + z_j^2)."""
        return -0.5 * torch.sum(LOG_2PI + z.pow(2), dim=-1)

    def marginal_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_j; 0, 1) = -1/2 (log 2 pi + z_j^2) for each coordinate."""
        return -0.5 * (LOG_2PI + z.pow(2))

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), ``(n, d)``, on the CPU."""
        return torch.randn(n, self.latent_dim, generator=generator)

    def kl(self, z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        """The closed form, :func:`~vae_tutorial.losses.gaussian_kl`, ``(batch,)``: z unused."""
        return gaussian_kl(mean, log_var)

    def kl_per_dimension(
        self, z: torch.Tensor, mean: torch.Tensor, log_var: torch.Tensor
    ) -> torch.Tensor:
        """The closed form per dimension, ``(batch, d)``: z unused."""
        return gaussian_kl(mean.unsqueeze(-1), log_var.unsqueeze(-1))


class MixtureOfGaussiansPrior(Prior):
    """p(z) = sum_k pi_k N(z; mu_k, diag exp(log_var_k)), K components, every part learned.

    ``pi = softmax(logits)``. The means start as draws from N(0, I), the variances at 1 and the
    weights equal, so the mixture starts close to the standard normal's scale."""

    def __init__(self, latent_dim: int, components: int) -> None:
        super().__init__(latent_dim)
        if isinstance(components, bool) or not isinstance(components, int) or components < 1:
            raise ValueError(f"a mixture needs components >= 1, got {components!r}")
        self.means = nn.Parameter(torch.randn(components, latent_dim))
        self.log_vars = nn.Parameter(torch.zeros(components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(components))

    @classmethod
    def from_config(cls, config: Any) -> Prior:
        """K = ``config.prior_components`` components over ``config.latent_dim`` dimensions."""
        return cls(config.latent_dim, config.prior_components)

    def _log_normal(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_j; mu_kj, sigma_kj^2), each coordinate under each component: ``(..., K, d)``."""
        squared = (z.unsqueeze(-2) - self.means).pow(2) / self.log_vars.exp()
        return -0.5 * (LOG_2PI + self.log_vars + squared)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_k (log pi_k + log N(z; mu_k, diag sigma_k^2))."""
        log_weights = torch.log_softmax(self.logits, dim=0)
        return torch.logsumexp(log_weights + self._log_normal(z).sum(-1), dim=-1)

    def marginal_log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z_j) = logsumexp_k (log pi_k + log N(z_j; mu_kj, sigma_kj^2)), ``(..., d)``."""
        log_weights = torch.log_softmax(self.logits, dim=0).unsqueeze(-1)  # (K, 1)
        return torch.logsumexp(log_weights + self._log_normal(z), dim=-2)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Pick component k with probability pi_k, then z = mu_k + sigma_k * eps; on the CPU."""
        weights = torch.softmax(self.logits.detach().cpu().double(), dim=0)
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator)
        means, log_vars = self.means.detach().cpu(), self.log_vars.detach().cpu()
        return means[k] + torch.exp(0.5 * log_vars[k]) * eps


PRIORS: dict[str, type[Prior]] = {
    "normal": StandardNormalPrior,
    "mixture": MixtureOfGaussiansPrior,
}
"""The priors a :class:`~vae_tutorial.model.VAEConfig` can name in its ``prior`` field."""


def build_prior(config: Any) -> Prior:
    """The prior a ``VAEConfig`` names: ``PRIORS[config.prior].from_config(config)``."""
    return PRIORS[config.prior].from_config(config)


def check_prior_config(prior: str, components: int) -> None:
    """Used by ``VAEConfig.__post_init__``: a known name, and components only for a mixture."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {sorted(PRIORS)}, got {prior!r}")
    if isinstance(components, bool) or not isinstance(components, int):
        raise ValueError(f"prior_components must be an integer, got {components!r}")
    if prior == "normal" and components != 0:
        raise ValueError(f"the normal prior has no components; got prior_components={components}")
    if prior != "normal" and components < 1:
        raise ValueError(f"a {prior} prior needs prior_components >= 1, got {components}")
