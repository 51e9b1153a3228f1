"""The VAE: an encoder q(z|x), the reparameterized sample, and a Bernoulli decoder p(x|z).

Layer names follow the math: ``to_mean`` and ``to_log_var`` are the encoder's two heads,
``to_logits`` the decoder's output layer. The decoder ends in logits, with no sigmoid: the loss
(``binary_cross_entropy_with_logits``) applies it, stably.

Every model offers one method to training, ``loss(batch, kl_weight, free_bits, importance_samples)``
(the knobs of :class:`~vae_tutorial.objective.Objective`): the training
loop never learns what the model is. The prior p(z) is the module ``prior``
(:mod:`vae_tutorial.prior`, N(0, I) by default): the loss, the importance-weighted bound and
sampling all ask it, so a new prior changes none of them. :class:`ConditionalVAE` (Sohn et al.
2015) is the same VAE with the label y read by the encoder and the decoder, q(z|x, y) and
p(x|z, y).
"""

from __future__ import annotations

from dataclasses import Field, asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn

from vae_tutorial.conv import ConvDecoder, ConvEncoder, ConvLogits, check_channels
from vae_tutorial.data import Batch, as_batch
from vae_tutorial.losses import (
    NegativeELBO,
    bernoulli_log_likelihood,
    gaussian_log_density,
    negative_elbo,
)
from vae_tutorial.objective import importance_weighted_loss, objective_loss
from vae_tutorial.prior import Prior, build_prior, check_prior_config

__all__ = [
    "ACTIVATIONS",
    "ARCHITECTURES",
    "VAEConfig",
    "VAE",
    "ConditionalVAE",
    "reparameterize",
]

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}

ARCHITECTURES = ("mlp", "conv")
# fields added after the first checkpoints: shown by repr only when set
_LATER = ("n_classes", "autoregressive", "residual_blocks", "prior", "prior_components")
_DEFAULT_PRIOR = "normal"


def reparameterize(
    mean: torch.Tensor, log_var: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw z ~ N(mean, diag exp(log_var)) as a differentiable function of (mean, log_var).

    ``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(log_var / 2)``: the noise
    carries the randomness, so gradients flow to mu and log_var (Kingma & Welling, 2014).
    """
    eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
    return mean + torch.exp(0.5 * log_var) * eps


@dataclass(frozen=True, repr=False)
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
    """``"mlp"``: fully connected layers of ``hidden_dims`` units. ``"conv"``: stride-2
    convolutions with ``hidden_dims`` channels (:mod:`vae_tutorial.conv`)."""
    n_classes: int = 0
    """0: q(z|x) and p(x|z). K > 0: a conditional VAE on K classes, q(z|x, y) and p(x|z, y)."""
    autoregressive: bool = False
    """An MLP decoder whose pixels also read the earlier pixels, strong enough to ignore z
    (:mod:`vae_tutorial.autoregressive`)."""
    residual_blocks: int = 0
    """For ``"conv"``: residual blocks (two 3 x 3 convolutions and a skip) after each stage of
    the encoder and the decoder (:class:`~vae_tutorial.conv.ResidualBlock`)."""
    prior: str = _DEFAULT_PRIOR
    """p(z), by name in :data:`~vae_tutorial.prior.PRIORS`: ``"normal"``, N(0, I), or
    ``"mixture"``, a learned mixture of ``prior_components`` diagonal Gaussians."""
    prior_components: int = 0
    """K, the components of a mixture prior (0 for the normal prior)."""

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
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}"
            )
        if self.architecture == "conv":
            check_channels(self.hidden_dims, self.input_dim)
        if isinstance(self.n_classes, bool) or not isinstance(self.n_classes, int):
            raise ValueError(f"n_classes must be an integer, got {self.n_classes!r}")
        if self.n_classes == 1 or self.n_classes < 0:
            raise ValueError(
                f"n_classes must be 0 (unconditional) or at least 2, got {self.n_classes}"
            )
        if not isinstance(self.autoregressive, bool):
            raise ValueError(f"autoregressive must be True or False, got {self.autoregressive!r}")
        if isinstance(self.residual_blocks, bool) or not isinstance(self.residual_blocks, int):
            raise ValueError(f"residual_blocks must be an integer, got {self.residual_blocks!r}")
        if self.residual_blocks < 0 or (self.residual_blocks and self.architecture != "conv"):
            raise ValueError(
                f"residual_blocks must be 0, or >= 1 with architecture='conv'; got "
                f"{self.residual_blocks} with architecture={self.architecture!r}"
            )
        if self.autoregressive and (self.architecture != "mlp" or self.n_classes):
            raise ValueError("an autoregressive decoder is built for the unconditional MLP only")
        check_prior_config(self.prior, self.prior_components)

    def __repr__(self) -> str:  # the later fields only when set: older configs print as before
        shown = (f for f in fields(self) if f.name not in _LATER or _is_set(self, f))
        return f"VAEConfig({', '.join(f'{f.name}={getattr(self, f.name)!r}' for f in shown)})"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hidden_dims": list(self.hidden_dims)}

    def describe(self) -> str:
        """One line naming every non-default choice, e.g. ``"784-400-20 relu MLP"``."""
        conditional = f", conditional on {self.n_classes} classes" if self.n_classes else ""
        prior = ""
        if self.prior != _DEFAULT_PRIOR:
            prior = f", {self.prior} prior of {self.prior_components} components"
        if self.architecture == "conv":
            maps = "-".join(str(c) for c in self.hidden_dims)
            n = self.residual_blocks
            blocks = f", {n} residual block{'s' * (n > 1)} per stage" if n else ""
            return (
                f"conv {maps} channels{blocks}, d={self.latent_dim}, {self.activation}"
                f"{conditional}{prior}"
            )
        sizes = "-".join(str(n) for n in (self.input_dim, *self.hidden_dims, self.latent_dim))
        strong = ", autoregressive decoder" if self.autoregressive else ""
        return f"{sizes} {self.activation} MLP{conditional}{strong}{prior}"


def _is_set(config: VAEConfig, f: Field[Any]) -> bool:
    return getattr(config, f.name) != f.default


def _mlp(sizes: list[int], activation: type[nn.Module]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), activation()]
    return nn.Sequential(*layers)


class VAE(nn.Module):
    """A variational autoencoder with a diagonal-Gaussian encoder, a Bernoulli decoder and a
    prior p(z), the module ``prior`` (N(0, I) unless ``config.prior`` names another)."""

    def __init__(self, config: VAEConfig | None = None) -> None:
        super().__init__()
        self.config = config or VAEConfig()
        c, act = self.config, ACTIVATIONS[self.config.activation]
        if c.n_classes and not isinstance(self, ConditionalVAE):
            raise ValueError(f"{c.describe()}: build it with ConditionalVAE or build_model")
        # modules are made in this order (encoder, heads, decoder) so that a seed gives the same
        # initial weights, and an optimizer's state the same parameter order, as before
        if c.architecture == "conv":  # flat rows in and out, like the MLP's
            self.encoder = ConvEncoder(
                c.hidden_dims, act, c.input_dim, c.n_classes, c.residual_blocks
            )
            features = self.encoder.out_features
        else:
            encoder_sizes = [c.input_dim + c.n_classes, *c.hidden_dims]  # + one-hot y if any
            self.encoder = _mlp(encoder_sizes, act)
            features = encoder_sizes[-1]
        self.to_mean = nn.Linear(features, c.latent_dim)
        self.to_log_var = nn.Linear(features, c.latent_dim)
        if c.architecture == "conv":
            self.decoder = ConvDecoder(
                c.hidden_dims, act, c.input_dim, c.latent_dim + c.n_classes, c.residual_blocks
            )
            self.to_logits = ConvLogits(c.hidden_dims, c.input_dim)
        else:
            decoder_sizes = [c.latent_dim + c.n_classes, *reversed(c.hidden_dims)]
            self.decoder = _mlp(decoder_sizes, act)
            self.to_logits = nn.Linear(decoder_sizes[-1], c.input_dim)
        # last: N(0, I) has no parameters (old state dicts fit); a learned prior's come after
        self.prior: Prior = build_prior(c)

    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): the mean and log-variance of a diagonal Gaussian, each ``(batch, d)``.

        Labels ``y`` are for a conditional VAE; this one ignores them."""
        h = self.encoder(x)
        return self.to_mean(h), self.to_log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """p(x|z): Bernoulli logits for every pixel, ``(batch, 784)``. Sampling, the latent tools
        and the explorers call this hook: whatever depends on z alone belongs here."""
        return self.to_logits(self.decoder(z))

    def score_logits(
        self, z: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of p(x|z) for scoring the image x: ``decode(z)``, since the pixels are
        independent given z. The one hook through which every model's likelihood is scored, in
        training and in the importance-weighted bound: a conditional VAE decodes with the labels
        ``y``, an autoregressive decoder also reads x's earlier pixels. Override it only when the
        scoring reads x or y; a change that depends on z alone goes in :meth:`decode`, which
        sampling uses. ``z`` may carry leading sample dimensions, ``(..., batch, d)``."""
        return self.decode(z)

    def posterior_sample(
        self, x: torch.Tensor, y: torch.Tensor | None = None, samples: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z ~ q(z|x), reparameterized: returns ``(z, mean, log_var)``.

        ``z`` is ``(batch, d)``, one draw per example; with ``samples`` k > 1, ``(k, batch, d)``."""
        mean, log_var = self.encode(x, y)
        if samples == 1:
            return reparameterize(mean, log_var), mean, log_var
        shape = (samples, *mean.shape)
        return reparameterize(mean.expand(shape), log_var.expand(shape)), mean, log_var

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encode, sample one z per example, score x: returns ``(logits, mean, log_var)``."""
        z, mean, log_var = self.posterior_sample(x, y)
        return self.score_logits(z, x, y), mean, log_var

    def loss(
        self,
        batch: torch.Tensor | Batch,
        kl_weight: float = 1.0,
        free_bits: float = 0.0,
        importance_samples: int = 1,
    ) -> NegativeELBO:
        """The negative ELBO of a batch, averaged over its examples, with its two parts.

        ``batch``: images x, or a :class:`~vae_tutorial.data.Batch` (encode ``x``, score
        ``target``, labels ``y``). ``kl_weight`` w and ``free_bits`` λ change only ``.loss``, the
        value to minimize, to ``rec + w * sum_j max(λ, KL_j)``; ``importance_samples`` k > 1
        changes it to -L_k, the importance-weighted bound (:mod:`vae_tutorial.objective`).
        ``.reconstruction`` and ``.kl`` stay the true terms. The one loss of every model: each
        differs only in :meth:`encode`, :meth:`decode`, :meth:`score_logits` and its ``prior``,
        whose ``kl`` is the closed form for N(0, I) and a Monte Carlo estimate at z otherwise.
        """
        batch = as_batch(batch)
        k = importance_samples
        z, mean, log_var = self.posterior_sample(batch.x, batch.y, k)
        logits = self.score_logits(z, batch.target, batch.y)
        target = batch.target.expand_as(logits)  # (k, B, 784) for k draws: a view, no copy
        elbo = negative_elbo(logits, target, mean, log_var, kl=self.prior.kl(z, mean, log_var))
        if k == 1:
            kl_j = self.prior.kl_per_dimension(z, mean, log_var) if free_bits else None
            return objective_loss(elbo, mean, log_var, kl_weight, free_bits, kl_j)
        log_prior_over_q = self.prior.log_prob(z) - gaussian_log_density(z, mean, log_var)
        log_w = bernoulli_log_likelihood(logits, target) + log_prior_over_q  # (k, B)
        return importance_weighted_loss(elbo, log_w)

    @torch.no_grad()
    def sample_means(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Decoder means E[x | z] = sigmoid(decode(z)) for n draws z ~ p(z) (``prior.sample``),
        ``(n, 784)``.

        These are pixel *probabilities*, not images drawn from the model: each is the average
        of all the binary images p(x|z) would generate for that z (see :meth:`sample`). Labels
        ``y`` are for a conditional VAE; this one ignores them.
        """
        z = self.prior.sample(n, generator)  # drawn on the CPU: the same z on any device
        return torch.sigmoid(self.decode(z.to(self.to_logits.weight.device)))

    @torch.no_grad()
    def sample(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Draws from the model, x ~ p(x) = E_z p(x|z): z ~ p(z), then x_j ~ Bernoulli(lambda_j).

        Returns ``(n, 784)`` binary images (0. or 1.). The pixels are independent given z, so a
        draw shows the speckle of a factorized likelihood; :meth:`sample_means` shows lambda.
        A conditional VAE draws from p(x | y), with ``y`` as in its :meth:`sample_means`.
        """
        means = self.sample_means(n, generator, y)
        return torch.bernoulli(means.cpu(), generator=generator).to(means.device)


class ConditionalVAE(VAE):
    """A conditional VAE (Sohn et al. 2015): q(z|x, y) and p(x|z, y), with the prior p(z).

    The label enters as a one-hot vector concatenated to the encoder's input ``[x, onehot(y)]``
    and to the decoder's input ``[z, onehot(y)]``. The ELBO is that of log p(x | y), so z need not
    encode the class: it is left for style. Its batches must carry labels ``y`` in
    ``0 .. n_classes - 1``.
    """

    def __init__(self, config: VAEConfig) -> None:
        if not config.n_classes:
            raise ValueError("a ConditionalVAE needs VAEConfig(n_classes=K) with K >= 2")
        super().__init__(config)

    def one_hot(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """The labels of ``n`` examples as one-hot float rows ``(n, n_classes)``, checked."""
        k = self.config.n_classes
        if y is None:
            raise ValueError(
                f"this conditional VAE needs the labels y of its {n} images; the batch has none "
                "(train it on data with labels, e.g. MNISTData)"
            )
        if y.shape != (n,):
            raise ValueError(f"y must hold one label per image: {tuple(y.shape)} for {n} images")
        if y.is_floating_point() or y.is_complex():
            raise ValueError(f"y must hold integer class indices, got {y.dtype}")
        if len(y) and (y.min() < 0 or y.max() >= k):
            raise ValueError(
                f"labels must lie in 0..{k - 1} (n_classes={k}), "
                f"got values from {y.min().item()} to {y.max().item()}"
            )
        return nn.functional.one_hot(y.long(), k).to(self.to_logits.weight.dtype)

    def encode(
        self, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x, y): the mean and log-variance of a diagonal Gaussian, each ``(batch, d)``."""
        h = self.encoder(torch.cat([x, self.one_hot(y, len(x))], dim=-1))
        return self.to_mean(h), self.to_log_var(h)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """p(x|z, y): Bernoulli logits for every pixel, ``(batch, 784)``."""
        return self.to_logits(self.decoder(torch.cat([z, self.one_hot(y, len(z))], dim=-1)))

    def score_logits(
        self, z: torch.Tensor, x: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Logits of p(x|z, y): ``decode(z, y)``, with the labels ``(batch,)`` repeated for any
        leading sample dimensions of ``z`` ``(..., batch, d)``."""
        lead = z.shape[:-1]
        labels = None if y is None else y.expand(lead).reshape(-1)
        return self.decode(z.reshape(-1, z.shape[-1]), labels).reshape(*lead, -1)

    @torch.no_grad()
    def sample_means(
        self, n: int, generator: torch.Generator | None = None, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Decoder means E[x | z, y] for n draws z ~ p(z), ``(n, 784)``.

        ``y``: the class of each (default: 0, 1, ..., n_classes - 1, 0, 1, ... in turn).
        """
        if y is None:
            y = torch.arange(n) % self.config.n_classes
        device = self.to_logits.weight.device
        z = self.prior.sample(n, generator)  # drawn on the CPU: the same z on any device
        return torch.sigmoid(self.decode(z.to(device), y.to(device)))
