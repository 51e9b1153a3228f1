"""The convolutional VAE: layer shapes, size arithmetic, its loss by hand, and what it refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vae_tutorial.conv import conv_side, conv_transpose_side
from vae_tutorial.data import Batch
from vae_tutorial.losses import gaussian_kl
from vae_tutorial.model import VAE, ConditionalVAE, VAEConfig, build_model

CONV = VAEConfig(latent_dim=3, hidden_dims=(4, 8), architecture="conv")


def test_size_arithmetic_matches_torch() -> None:
    for n in range(2, 40):
        x = torch.zeros(1, 1, n, n)
        assert nn.Conv2d(1, 1, 4, 2, 1)(x).shape[-1] == conv_side(n)
        assert nn.ConvTranspose2d(1, 1, 4, 2, 1)(x).shape[-1] == conv_transpose_side(n)
        assert nn.Conv2d(1, 1, 3, 1, 0)(torch.zeros(1, 1, n + 2, n + 2)).shape[-1] == conv_side(
            n + 2, kernel=3, stride=1, padding=0
        )


def test_every_layer_has_the_shape_the_design_says() -> None:
    model = VAE(CONV)
    shapes = []

    def record(module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        shapes.append((type(module).__name__, tuple(output.shape)))

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]
    hooks = [m.register_forward_hook(record) for m in convs]
    model.decode(model.encode(torch.rand(5, 784))[0])
    for h in hooks:
        h.remove()
    assert shapes == [
        ("Conv2d", (5, 4, 14, 14)),
        ("Conv2d", (5, 8, 7, 7)),
        ("ConvTranspose2d", (5, 4, 14, 14)),
        ("ConvTranspose2d", (5, 1, 28, 28)),
    ]
    assert model.encoder.out_features == 8 * 7 * 7


def test_codes_with_leading_dimensions_decode_row_by_row() -> None:
    """The importance-weighted bound decodes (k, batch, d) codes: the same as one row at a time."""
    torch.manual_seed(0)
    model = VAE(CONV)
    z = torch.randn(2, 3, 3)
    logits = model.decode(z)
    assert logits.shape == (2, 3, 784)
    assert torch.allclose(logits[1, 2], model.decode(z[1, 2:3])[0], atol=1e-6)
    x = torch.rand(4, 784)
    mean, _ = model.encode(x)
    assert torch.allclose(model.encode(x.reshape(2, 2, 784))[0].reshape(4, 3), mean, atol=1e-6)


def test_the_loss_is_the_negative_elbo_by_hand() -> None:
    torch.manual_seed(0)
    model = VAE(CONV)
    x = torch.bernoulli(torch.rand(2, 784))
    torch.manual_seed(1)
    out = model.loss(x)
    torch.manual_seed(1)
    image = x.reshape(2, 1, 28, 28)
    h = F.relu(model.encoder.convs[2](F.relu(model.encoder.convs[0](image)))).flatten(1)
    mean, log_var = model.to_mean(h), model.to_log_var(h)
    z = mean + torch.exp(0.5 * log_var) * torch.randn(2, 3)
    maps = F.relu(model.decoder.to_maps[0](z)).reshape(2, 8, 7, 7)
    logits = model.to_logits.deconv(F.relu(model.decoder.deconvs[0](maps))).reshape(2, 784)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 2
    kl = gaussian_kl(mean, log_var).mean()
    assert torch.allclose(out.reconstruction, rec, rtol=1e-5)
    assert torch.allclose(out.kl, kl, rtol=1e-5)
    assert torch.allclose(out.loss, rec + kl, rtol=1e-5)


def test_a_conditional_conv_vae_reads_the_label_as_constant_maps() -> None:
    torch.manual_seed(0)
    model = build_model(VAEConfig(latent_dim=2, hidden_dims=(4, 8), architecture="conv",
                                  n_classes=10))  # fmt: skip
    assert isinstance(model, ConditionalVAE)
    assert model.encoder.convs[0].in_channels == 11
    x, y = torch.rand(3, 784), torch.tensor([0, 5, 9])
    mean, _ = model.encode(x, y)
    assert not torch.allclose(mean, model.encode(x, torch.tensor([1, 5, 9]))[0])
    assert torch.allclose(mean[1:], model.encode(x, torch.tensor([1, 5, 9]))[0][1:])
    assert model.loss(Batch(x, y=y)).loss.isfinite()
    with pytest.raises(ValueError, match="needs the labels y"):
        model.loss(x)
    with pytest.raises(ValueError, match="one label per image"):
        model.encode(x, torch.tensor([0, 1]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hidden_dims": (4, 8, 16)}, "28 -> 14 -> 7, and 7 is odd"),
        ({"input_dim": 780}, "780 is not a square"),
        ({"architecture": "resnet"}, "architecture must be one of"),
    ],
)
def test_configurations_that_cannot_work_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VAEConfig(**{"architecture": "conv", "hidden_dims": (4, 8), **kwargs})


def test_one_stage_and_other_square_sizes_work() -> None:
    model = VAE(VAEConfig(latent_dim=2, hidden_dims=(4,), architecture="conv"))
    assert model.decode(torch.zeros(1, 2)).shape == (1, 784)
    model = VAE(VAEConfig(latent_dim=2, hidden_dims=(4, 8, 16), architecture="conv",
                          input_dim=32 * 32))  # fmt: skip
    assert model.decode(model.encode(torch.rand(2, 1024))[0]).shape == (2, 1024)
    assert "conv 4-8-16 channels, d=2" in model.config.describe()
