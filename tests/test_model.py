"""The VAE's shapes, its loss against a hand computation, and its configuration checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vae_tutorial.model import VAE, VAEConfig

# Every VAEConfig field: a configuration, and a change of that field, which describe() must show.
# A new field goes here too (CONTRIBUTING.md, "Adding a model variant").
DESCRIBED_CHANGES: dict[str, tuple[dict, dict]] = {
    "latent_dim": ({}, {"latent_dim": 7}),
    "hidden_dims": ({}, {"hidden_dims": (300,)}),
    "activation": ({}, {"activation": "tanh"}),
    "input_dim": ({}, {"input_dim": 100}),
    "architecture": ({"hidden_dims": (8, 16)}, {"architecture": "conv"}),
    "n_classes": ({}, {"n_classes": 10}),
    "autoregressive": ({}, {"autoregressive": True}),
    "residual_blocks": ({"architecture": "conv", "hidden_dims": (8, 16)}, {"residual_blocks": 1}),
    "prior": ({}, {"prior": "mixture", "prior_components": 2}),
    "prior_components": (
        {"prior": "mixture", "prior_components": 2}, {"prior_components": 3}
    ),
}


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
        ({"architecture": "resnet"}, "architecture must be one of"),
    ],
)
def test_bad_configurations_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VAEConfig(**kwargs)


def test_config_round_trips_through_a_dict() -> None:
    config = VAEConfig(latent_dim=50, hidden_dims=(200, 200), activation="tanh")
    assert VAEConfig(**config.to_dict()) == config
    assert config.describe() == "784-200-200-50 tanh MLP"


def test_an_unconditional_config_prints_as_before_and_a_conditional_one_says_so() -> None:
    assert repr(VAEConfig(latent_dim=20, hidden_dims=(400,))) == (
        "VAEConfig(latent_dim=20, hidden_dims=(400,), activation='relu', input_dim=784, "
        "architecture='mlp')"
    )
    conditional = VAEConfig(latent_dim=2, hidden_dims=(64,), n_classes=10)
    assert repr(conditional).endswith("architecture='mlp', n_classes=10)")
    assert conditional.describe() == "784-64-2 relu MLP, conditional on 10 classes"
    assert VAEConfig(**conditional.to_dict()) == conditional
    old = {k: v for k, v in VAEConfig().to_dict().items() if k != "n_classes"}
    assert VAEConfig(**old) == VAEConfig()  # a configuration saved before n_classes existed
    for bad in (1, -2, 2.5, True):
        with pytest.raises(ValueError, match="n_classes"):
            VAEConfig(n_classes=bad)


@pytest.mark.parametrize("name", sorted(DESCRIBED_CHANGES))
def test_describe_shows_every_field(name: str) -> None:
    """describe() names the model in logs, errors and records: a field it ignores would make
    two different models read the same."""
    base, change = DESCRIBED_CHANGES[name]
    assert VAEConfig(**base).describe() != VAEConfig(**{**base, **change}).describe(), name


def test_every_config_field_has_a_describe_check() -> None:
    names = {f.name for f in dataclasses.fields(VAEConfig)}
    assert names == set(DESCRIBED_CHANGES), (
        f"add {sorted(names - set(DESCRIBED_CHANGES))} to DESCRIBED_CHANGES, and show it in "
        "VAEConfig.describe()"
    )


def test_conditional_vae_reads_one_hot_labels_in_encoder_and_decoder() -> None:
    from vae_tutorial.data import Batch
    from vae_tutorial.model import ConditionalVAE
    from vae_tutorial.variants import build_model

    config = VAEConfig(latent_dim=3, hidden_dims=(32,), n_classes=10)
    torch.manual_seed(0)
    model = build_model(config)
    assert isinstance(model, ConditionalVAE) and isinstance(build_model(VAEConfig()), VAE)
    assert model.encoder[0].in_features == 784 + 10 and model.decoder[0].in_features == 3 + 10
    x, y = torch.bernoulli(torch.rand(6, 784)), torch.tensor([0, 1, 2, 3, 9, 9])
    mean, log_var = model.encode(x, y)
    assert mean.shape == log_var.shape == (6, 3)
    assert model.decode(mean, y).shape == (6, 784)
    # the label changes the code and the decoded digit
    assert not torch.equal(model.encode(x, y.flip(0))[0], mean)
    assert not torch.equal(model.decode(mean, y.flip(0)), model.decode(mean, y))
    out = model.loss(Batch(x, y=y))
    assert out.loss.shape == () and torch.isfinite(out.loss)
    torch.testing.assert_close(out.loss, out.reconstruction + out.kl)
    means = model.sample_means(12, torch.Generator().manual_seed(0))
    assert means.shape == (12, 784)
    fours = model.sample(3, torch.Generator().manual_seed(0), y=torch.full((3,), 4))
    assert fours.shape == (3, 784) and set(fours.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (None, "needs the labels y of its 4 images; the batch has none"),
        (torch.tensor([0, 1, 2]), "one label per image"),
        (torch.tensor([0, 1, 2, 10]), r"labels must lie in 0\.\.9 \(n_classes=10\), got values "
                                      "from 0 to 10"),
        (torch.tensor([-1, 1, 2, 3]), "labels must lie in 0..9"),
        (torch.tensor([0.0, 1.0, 2.0, 3.0]), "integer class indices"),
    ],
)
def test_conditional_vae_rejects_missing_or_bad_labels(labels, message: str) -> None:
    from vae_tutorial.model import ConditionalVAE

    model = ConditionalVAE(VAEConfig(latent_dim=2, hidden_dims=(16,), n_classes=10))
    x = torch.rand(4, 784)
    with pytest.raises(ValueError, match=message):
        if labels is None or len(labels) == len(x):
            model.loss((x, labels) if labels is not None else x)
        else:
            model.encode(x, labels)


def test_a_conditional_config_needs_the_conditional_class() -> None:
    from vae_tutorial.model import ConditionalVAE

    with pytest.raises(ValueError, match="build it with ConditionalVAE or build_model"):
        VAE(VAEConfig(n_classes=10))
    with pytest.raises(ValueError, match="n_classes=K"):
        ConditionalVAE(VAEConfig())


def test_loss_reads_a_batch_encoding_x_and_scoring_the_target() -> None:
    """A denoising batch: the encoder sees a corrupted x, the likelihood scores the clean target."""
    from vae_tutorial.data import Batch

    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=4, hidden_dims=(32,)))
    clean = torch.bernoulli(torch.rand(5, 784))
    noisy = clean * (torch.rand(5, 784) > 0.5)
    torch.manual_seed(1)
    out = model.loss(Batch(noisy, target=clean, y=torch.arange(5)))  # a plain VAE ignores y
    torch.manual_seed(1)
    logits, mean, log_var = model(noisy)
    expected = F.binary_cross_entropy_with_logits(logits, clean, reduction="sum") / 5
    torch.testing.assert_close(out.reconstruction, expected)
    with pytest.raises(ValueError, match="target must have the shape of x"):
        Batch(noisy, target=clean[:, :10])
    with pytest.raises(ValueError, match="one label per image"):
        Batch(noisy, y=torch.arange(4))
    with pytest.raises(TypeError, match="expected images x, a pair"):
        model.loss([noisy])
