"""The convolutional VAE: layer shapes, size arithmetic, its loss by hand, and what it refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vae_tutorial.conv import (
    ChannelsLastLinear,
    ResidualBlock,
    SubPixelConvTranspose2d,
    conv_side,
    conv_transpose_side,
    maps_to_rows,
    rows_to_maps,
)
from vae_tutorial.data import Batch
from vae_tutorial.losses import gaussian_kl
from vae_tutorial.model import VAE, ConditionalVAE, VAEConfig
from vae_tutorial.variants import build_model

CONV = VAEConfig(latent_dim=3, hidden_dims=(4, 8), architecture="conv")


def test_size_arithmetic_matches_torch() -> None:
    for n in range(2, 40):
        x = torch.zeros(1, 1, n, n)
        assert nn.Conv2d(1, 1, 4, 2, 1)(x).shape[-1] == conv_side(n)
        assert nn.ConvTranspose2d(1, 1, 4, 2, 1)(x).shape[-1] == conv_transpose_side(n)
        assert nn.Conv2d(1, 1, 3, 1, 0)(torch.zeros(1, 1, n + 2, n + 2)).shape[-1] == conv_side(
            n + 2, kernel=3, stride=1, padding=0
        )


@pytest.mark.parametrize(("c_in", "c_out", "side"), [(32, 1, 14), (64, 32, 7), (3, 5, 4)])
def test_sub_pixel_transposed_convolution_equals_torchs(c_in: int, c_out: int, side: int) -> None:
    """The same parameters, output and gradients as nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)."""
    torch.manual_seed(0)
    fast = SubPixelConvTranspose2d(c_in, c_out)
    plain = nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)
    plain.load_state_dict(fast.state_dict())
    maps = torch.randn(6, c_in, side, side)
    want, got = plain(maps), fast(maps)
    assert got.shape == want.shape == (6, c_out, 2 * side, 2 * side)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(want)
    want_grad = torch.autograd.grad(want, plain.weight, grad)[0]
    got_grad = torch.autograd.grad(got, fast.weight, grad)[0]
    torch.testing.assert_close(got_grad, want_grad, rtol=1e-4, atol=1e-4)
    channels_last = maps.contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast(channels_last), want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast(maps, output_size=[2 * side, 2 * side]), want)


def test_sub_pixel_refuses_an_output_size_it_cannot_give() -> None:
    """nn.ConvTranspose2d(..., output_size=[15, 15]) adds output padding; this layer cannot."""
    maps = torch.randn(2, 3, 7, 7)
    assert nn.ConvTranspose2d(3, 1, 4, 2, 1)(maps, [15, 15]).shape[-2:] == (15, 15)
    with pytest.raises(ValueError, match=r"maps of \(7, 7\) give \(14, 14\), not output_size"):
        SubPixelConvTranspose2d(3, 1)(maps, output_size=[15, 15])


def test_channels_last_rows_are_the_plain_layers_maps_without_a_copy() -> None:
    torch.manual_seed(0)
    layer, z = ChannelsLastLinear(5, (8, 7, 7)), torch.randn(3, 5)
    plain = F.linear(z, layer.weight, layer.bias).reshape(3, 8, 7, 7)  # (c, h, w) order
    maps = rows_to_maps(layer(z), (8, 7, 7))
    assert maps.shape == (3, 8, 7, 7) and maps.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(maps, plain, atol=1e-6)
    rows = maps_to_rows(maps)
    assert rows.shape == (3, 392) and rows.data_ptr() == maps.data_ptr()  # a view, not a copy
    assert torch.equal(rows_to_maps(rows, (8, 7, 7)), maps)


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
        ("SubPixelConvTranspose2d", (5, 1, 28, 28)),
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
    first = model.decoder.to_maps[0]  # the plain linear layer of its parameters
    maps = F.relu(F.linear(z, first.weight, first.bias)).reshape(2, 8, 7, 7)
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


def test_residual_blocks_keep_every_size_and_old_models_unchanged() -> None:
    torch.manual_seed(0)
    plain = VAE(CONV)
    torch.manual_seed(0)
    same = VAE(VAEConfig(latent_dim=3, hidden_dims=(4, 8), architecture="conv", residual_blocks=0))
    assert plain.state_dict().keys() == same.state_dict().keys()  # old checkpoints still load
    pairs = zip(plain.parameters(), same.parameters(), strict=True)
    assert all(torch.equal(p, q) for p, q in pairs)
    deep = VAE(VAEConfig(latent_dim=3, hidden_dims=(4, 8), architecture="conv", residual_blocks=2))
    blocks = [m for m in deep.modules() if isinstance(m, ResidualBlock)]
    assert len(blocks) == 8  # 2 per stage: encoder 14x14 and 7x7, decoder 7x7 and 14x14
    x = torch.rand(5, 784)
    mean, log_var = deep.encode(x)
    assert mean.shape == log_var.shape == (5, 3) and deep.decode(mean).shape == (5, 784)
    block = blocks[0]
    h = torch.rand(2, 4, 14, 14)
    by_hand = torch.relu(h + block.conv2(torch.relu(block.conv1(h))))
    torch.testing.assert_close(block(h), by_hand)
    with pytest.raises(ValueError, match="residual_blocks must be 0, or >= 1 with"):
        VAEConfig(residual_blocks=1)
    with pytest.raises(ValueError, match="residual_blocks must be an integer"):
        VAEConfig(architecture="conv", hidden_dims=(4, 8), residual_blocks=True)
