"""The VAE's shapes, its loss against a hand computation, and its configuration checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vae_tutorial.model import VAE, VAEConfig


def test_shapes_through_the_model() -> None:
    model = VAE(VAEConfig(latent_dim=7, hidden_dims=(64, 32), activation="tanh"))
    x = torch.rand(5, 784)
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape == (5, 7)
    assert model.decode(mean).shape == (5, 784)
    logits, mean2, log_var2 = model(x)
    assert logits.shape == (5, 784) and torch.equal(mean, mean2) and torch.equal(log_var, log_var2)
    means = model.sample_means(3, generator=torch.Generator().manual_seed(0))
    assert means.shape == (3, 784) and 0 < means.min() and means.max() < 1
    draws = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (3, 784) and set(draws.unique().tolist()) <= {0.0, 1.0}


def test_draws_average_to_the_decoder_means() -> None:
    """sample() draws x ~ p(x|z): with a decoder that ignores z, draws average to lambda."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, hidden_dims=(16,)))
    with torch.no_grad():
        model.decoder[0].weight.zero_()  # lambda no longer depends on z
    n = 20_000
    lam = model.sample_means(1, torch.Generator().manual_seed(1))[0]
    draws = model.sample(n, torch.Generator().manual_seed(2))
    assert (draws.mean(0) - lam).abs().max() < 5 * (0.25 / n) ** 0.5
    assert torch.equal(
        model.sample_means(4, torch.Generator().manual_seed(1)),
        model.sample_means(4, torch.Generator().manual_seed(1)),
    )


def test_layers_are_named_after_the_math_and_end_in_logits() -> None:
    model = VAE(VAEConfig(hidden_dims=(64,)))
    names = dict(model.named_children())
    assert {"encoder", "to_mean", "to_log_var", "decoder", "to_logits"} <= set(names)
    assert isinstance(model.to_logits, torch.nn.Linear), (
        "the decoder must end in logits, no sigmoid or ReLU"
    )
    assert [type(m).__name__ for m in model.decoder] == ["Linear", "ReLU"]


def test_loss_matches_a_hand_computation() -> None:
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden_dims=(32,)))
    x = torch.bernoulli(torch.rand(6, 784))
    torch.manual_seed(1)
    out = model.loss(x)
    torch.manual_seed(1)
    mean, log_var = model.encode(x)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    reconstruction = F.binary_cross_entropy(torch.sigmoid(model.decode(z)), x, reduction="sum") / 6
    kl = kl_divergence(Normal(mean, torch.exp(0.5 * log_var)), Normal(0.0, 1.0)).sum() / 6
    torch.testing.assert_close(out.reconstruction, reconstruction, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out.kl, kl, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.loss, reconstruction + kl, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 0}, "latent_dim"),
        ({"latent_dim": -3}, "latent_dim"),
        ({"hidden_dims": (0,)}, "hidden_dims"),
        ({"activation": "sigmoidish"}, "activation"),
        ({"architecture": "conv"}, "architecture"),
    ],
)
def test_bad_configurations_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VAEConfig(**kwargs)


def test_config_round_trips_through_a_dict() -> None:
    config = VAEConfig(latent_dim=50, hidden_dims=(200, 200), activation="tanh")
    assert VAEConfig(**config.to_dict()) == config
    assert config.describe() == "784-200-200-50 tanh MLP"
