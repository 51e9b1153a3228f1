"""The VAE: an encoder q(z|x), the reparameterized sample, and a Bernoulli decoder p(x|z).

Layer names follow the math: ``to_mean`` and ``to_log_var`` are the encoder's two heads,
``to_logits`` the decoder's output layer. The decoder ends in logits, with no sigmoid: the loss
(``binary_cross_entropy_with_logits``) applies it, stably.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from vae_tutorial.losses import NegativeELBO, negative_elbo

__all__ = ["ACTIVATIONS", "VAEConfig", "VAE", "reparameterize"]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


def reparameterize(
    mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw z ~ N(mean, diag exp(log_var)) as a differentiable function of (mean, log_var).

    ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(log_var / 2)``: the noise
    carries the randomness, so gradients flow to mu and log_var (Kingma & Welling, 2014).
    """
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + torch.exp(0.5 * log_var) * eps


@dataclass(frozen=True)
class VAEConfig:
    """The shape of a VAE. The decoder mirrors the encoder's hidden sizes in reverse."""

    latent_dim: int = 20
    """Dimension d of z."""
    hidden_dims: tuple[int, ...] = (400,)
    """Sizes of the encoder's hidden layers (784 -> ... -> d)."""
    activation: str = "relu"
    """Nonlinearity between hidden layers: one of ``ACTIVATIONS``."""
    input_dim: int = 784
    """Pixels per image."""
    architecture: str = field(default="mlp")
    """``"mlp"``: fully connected layers (the only architecture so far)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_dims", tuple(int(h) for h in self.hidden_dims))
        if not isinstance(self.latent_dim, int) or self.latent_dim < 1:
            raise ValueError(f"latent_dim must be a positive integer, got {self.latent_dim!r}")
        if any(h < 1 for h in self.hidden_dims):
            raise ValueError(f"hidden_dims must be positive, got {self.hidden_dims}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        if self.architecture != "mlp":
            raise ValueError(f"architecture must be 'mlp', got {self.architecture!r}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden_dims": list(self.hidden_dims)}

    def describe(self) -> str:
        sizes = "-".join(str(n) for n in (self.input_dim, *self.hidden_dims, self.latent_dim))
        return f"{sizes} {self.activation} MLP"


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A variational autoencoder with a diagonal-Gaussian encoder and a Bernoulli decoder."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        c, act = self.config, ACTIVATIONS[self.config.activation]
        encoder_sizes = [c.input_dim, *c.hidden_dims]
        self.encoder = _mlp(encoder_sizes, act)
        self.to_mean = nn.Linear(encoder_sizes[-1], c.latent_dim)
        self.to_log_var = nn.Linear(encoder_sizes[-1], c.latent_dim)
        decoder_sizes = [c.latent_dim, *reversed(c.hidden_dims)]
        self.decoder = _mlp(decoder_sizes, act)
        self.to_logits = nn.Linear(decoder_sizes[-1], c.input_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): the mean and log-variance of a diagonal Gaussian, each ``(batch, d)``."""
        h = self.encoder(x)
        return self.to_mean(h), self.to_log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z): Bernoulli logits for every pixel, ``(batch, 784)``."""
        return self.to_logits(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample one z per example, decode: returns ``(logits, mean, log_var)``."""
        mean, log_var = self.encode(x)
        return self.decode(reparameterize(mean, log_var)), mean, log_var

    def loss(self, x: torch.Tensor) -> NegativeELBO:
        """The negative ELBO of a batch, averaged over its examples, with its two parts."""
        logits, mean, log_var = self(x)
        return negative_elbo(logits, x, mean, log_var)

    @torch.no_grad()
    def sample_means(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decoder means E[x | z] = sigmoid(decode(z)) for n draws z ~ p(z), ``(n, 784)``.

        These are pixel *probabilities*, not images drawn from the model: each is the average
        of all the binary images p(x|z) would generate for that z (see :meth:`sample`).
        """
        z = torch.randn(n, self.config.latent_dim, generator=generator)  # CPU: same on any device
        return torch.sigmoid(self.decode(z.to(self.to_logits.weight.device)))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws from the model, x ~ p(x) = E_z p(x|z): z ~ p(z), then x_j ~ Bernoulli(lambda_j).

        Returns ``(n, 784)`` binary images (0. or 1.). The pixels are independent given z, so a
        draw shows the speckle of a factorized likelihood; :meth:`sample_means` shows lambda.
        """
        means = self.sample_means(n, generator)
        return torch.bernoulli(means.cpu(), generator=generator).to(means.device)
