"""The convolutional encoder and decoder for 28 x 28 images (``VAEConfig(architecture="conv")``).

Encoder: two 4 x 4 convolutions of stride 2 and padding 1, each halving the side,
28 -> 14 -> 7, with ``channels = (c1, c2)`` feature maps; the ``c2 * 7 * 7`` features feed the
mean and log-variance heads. Decoder, the mirror image: a linear layer from z to ``c2 * 7 * 7``
features, a transposed convolution 7 -> 14 with c1 maps, and the output layer, a transposed
convolution 14 -> 28 with one map of Bernoulli logits.

Sizes follow from arithmetic, not from hard-coded numbers: a convolution with kernel k, stride s
and padding p maps a side n to ``floor((n + 2p - k) / s) + 1`` (:func:`conv_side`), and a
transposed one maps n to ``(n - 1) s - 2p + k`` (:func:`conv_transpose_side`). With k = 4, s = 2,
p = 1 these are n / 2 and 2n exactly, so each stage halves or doubles the side, and the number of
stages is bounded by how often the side can be halved evenly: 28 -> 14 -> 7, and 7 is odd.

Both modules take and return flat rows, ``(..., 784)`` images and ``(..., 784)`` logits, with any
leading dimensions (the importance-weighted bound decodes ``(k, batch, d)`` codes), so a VAE
treats them exactly as it treats the MLP's. A conditional VAE's encoder input is
``[x, onehot(y)]``: the one-hot label enters the convolutions as K constant feature maps.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "KERNEL",
    "STRIDE",
    "PADDING",
    "conv_side",
    "conv_transpose_side",
    "check_channels",
    "ConvEncoder",
    "ChannelsLastLinear",
    "ConvDecoder",
    "ConvLogits",
    "ResidualBlock",
    "SubPixelConvTranspose2d",
    "sub_pixel_weight",
]

KERNEL, STRIDE, PADDING = 4, 2, 1


def conv_side(n: int, kernel: int = KERNEL, stride: int = STRIDE, padding: int = PADDING) -> int:
    """The side of a convolution's output: floor((n + 2p - k) / s) + 1."""
    return (n + 2 * padding - kernel) // stride + 1


def conv_transpose_side(
    n: int, kernel: int = KERNEL, stride: int = STRIDE, padding: int = PADDING
) -> int:
    """The side of a transposed convolution's output: (n - 1) s - 2p + k."""
    return (n - 1) * stride - 2 * padding + kernel


def image_side(input_dim: int) -> int:
    """The side of a square image of ``input_dim`` pixels, checked."""
    side = math.isqrt(input_dim)
    if side * side != input_dim:
        raise ValueError(f"a convolutional VAE needs square images; {input_dim} is not a square")
    return side


def check_channels(channels: tuple[int, ...], input_dim: int) -> list[int]:
    """The side after each encoder stage, checked so that the decoder returns to the input size.

    Each stage must halve the side exactly; otherwise the mirrored decoder cannot come back to it.
    """
    sides = [image_side(input_dim)]
    for _ in channels:
        n = sides[-1]
        if n % 2:
            raise ValueError(
                f"{len(channels)} stride-2 stages do not fit {sides[0]}x{sides[0]} images: the "
                f"sides go {' -> '.join(map(str, sides))}, and {n} is odd, so a stride-2 "
                f"convolution makes it {conv_side(n)} and the mirrored decoder returns "
                f"{conv_transpose_side(conv_side(n))}, not {n}. Give at most {len(sides) - 1} "
                "channel counts (hidden_dims), e.g. (32, 64) for 28x28"
            )
        sides.append(conv_side(n))
    return sides


class ResidualBlock(nn.Module):
    """``h -> act(h + W2 * act(W1 * h))``: two 3 x 3 convolutions (padding 1, so the side stays)
    added to their input, the residual block of He et al. (2016). Adding blocks deepens a stage
    without changing any size, and the skip keeps a deep stack trainable."""

    def __init__(self, channels: int, activation: type[nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.act = activation()

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.act(h + self.conv2(self.act(self.conv1(h))))


def _blocks(n: int, channels: int, activation: type[nn.Module]) -> list[nn.Module]:
    return [ResidualBlock(channels, activation) for _ in range(n)]


class ConvEncoder(nn.Module):
    """``(..., side² + K)`` rows -> ``(..., channels[-1] * s * s)`` features, s the final side.

    Each stride-2 stage is followed by ``residual_blocks`` :class:`ResidualBlock`s."""

    def __init__(
        self,
        channels: tuple[int, ...],
        activation: type[nn.Module],
        input_dim: int,
        n_classes: int = 0,
        residual_blocks: int = 0,
    ) -> None:
        super().__init__()
        self.side = image_side(input_dim)
        self.n_classes = n_classes
        sides = check_channels(channels, input_dim)
        layers: list[nn.Module] = []
        for c_in, c_out in zip((1 + n_classes, *channels[:-1]), channels, strict=True):
            layers += [nn.Conv2d(c_in, c_out, KERNEL, STRIDE, PADDING), activation()]
            layers += _blocks(residual_blocks, c_out, activation)
        self.convs = nn.Sequential(*layers)
        self.out_features = channels[-1] * sides[-1] ** 2

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        lead, s = rows.shape[:-1], self.side
        rows = rows.reshape(-1, rows.shape[-1])
        image = rows[:, : s * s].reshape(-1, 1, s, s)
        if self.n_classes:  # the one-hot label as K constant maps
            planes = rows[:, s * s :, None, None].expand(-1, self.n_classes, s, s)
            image = torch.cat([image, planes], dim=1)
        image = image.contiguous(memory_format=torch.channels_last)  # as in the decoder
        return self.convs(image).reshape(*lead, -1)


class ChannelsLastLinear(nn.Linear):
    """``nn.Linear(in_features, c * s * s)`` whose output rows list the maps ``(c, s, s)`` in
    channels-last order, ``(s, s, c)``: ``.view(-1, s, s, c).permute(0, 3, 1, 2)`` is then a
    channels-last tensor of maps with no copy. Its parameters are those of the plain layer, in the
    plain layer's order (checkpoints load unchanged); only the product's rows are permuted."""

    def __init__(self, in_features: int, maps: tuple[int, int, int]) -> None:
        super().__init__(in_features, math.prod(maps))
        self.maps = maps

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        c, s, t = self.maps
        weight = self.weight.view(c, s * t, -1).transpose(0, 1).reshape(c * s * t, -1)
        return F.linear(input, weight, self.bias.view(c, s * t).t().reshape(-1))


def maps_to_rows(maps: torch.Tensor) -> torch.Tensor:
    """Maps ``(N, c, s, t)`` -> rows ``(N, s * t * c)`` in channels-last order: no copy when the
    maps are channels-last, as every map of the decoder is."""
    return maps.permute(0, 2, 3, 1).reshape(len(maps), -1)


def rows_to_maps(rows: torch.Tensor, maps: tuple[int, int, int]) -> torch.Tensor:
    """Rows ``(..., s * t * c)`` in channels-last order -> maps ``(N, c, s, t)``, channels-last,
    with no copy (the inverse of :func:`maps_to_rows`)."""
    c, s, t = maps
    return rows.reshape(-1, s, t, c).permute(0, 3, 1, 2)


class ConvDecoder(nn.Module):
    """``(..., d + K)`` codes -> ``(..., channels[0] * side/2 * side/2)`` feature rows, each the
    maps of the last stage in channels-last order (:func:`maps_to_rows`), which
    :class:`ConvLogits` reads.

    ``residual_blocks`` :class:`ResidualBlock`s follow the first maps and each transposed
    convolution, mirroring the encoder."""

    def __init__(
        self,
        channels: tuple[int, ...],
        activation: type[nn.Module],
        input_dim: int,
        in_features: int,
        residual_blocks: int = 0,
    ) -> None:
        super().__init__()
        sides = check_channels(channels, input_dim)
        self.first = (channels[-1], sides[-1], sides[-1])
        self.to_maps = nn.Sequential(ChannelsLastLinear(in_features, self.first), activation())
        layers: list[nn.Module] = _blocks(residual_blocks, channels[-1], activation)
        for c_in, c_out in zip(channels[::-1], channels[::-1][1:], strict=False):
            layers += [nn.ConvTranspose2d(c_in, c_out, KERNEL, STRIDE, PADDING), activation()]
            layers += _blocks(residual_blocks, c_out, activation)
        self.deconvs = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # channels-last ("NHWC") maps throughout: about 2.5x less CPU time for the transposed
        # convolution on a CPU, and no copy between the layers (benchmarks/README.md, "The
        # convolutional decoder"); the same numbers as NCHW up to rounding
        maps = rows_to_maps(self.to_maps(z.reshape(-1, z.shape[-1])), self.first)
        return maps_to_rows(self.deconvs(maps)).reshape(*z.shape[:-1], -1)


class SubPixelConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d(c_in, c_out, 4, 2, 1)`` with the same parameters and the same output
    (up to float rounding), computed as its sub-pixel equivalent (:func:`sub_pixel_weight`): a
    3 x 3 convolution to 4 c_out maps, one per output phase, interleaved by ``pixel_shuffle``.
    A CPU computes a transposed convolution to one map about 2x slower than this
    (``benchmarks/README.md``, "The convolutional decoder")."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, KERNEL, STRIDE, PADDING)

    def forward(self, maps: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        """The output of side 2n for input maps of side n; ``output_size`` (kept from
        ``nn.ConvTranspose2d``'s signature) may only name that size."""
        if output_size is not None and list(output_size)[-2:] != [2 * n for n in maps.shape[-2:]]:
            raise ValueError(
                f"SubPixelConvTranspose2d computes only the output of side 2n: maps of "
                f"{tuple(maps.shape[-2:])} give {tuple(2 * n for n in maps.shape[-2:])}, not "
                f"output_size={tuple(output_size)}; use nn.ConvTranspose2d for another size"
            )
        weight = sub_pixel_weight(self.weight)
        bias = None if self.bias is None else self.bias.repeat_interleave(STRIDE * STRIDE)
        return F.pixel_shuffle(F.conv2d(maps, weight, bias, padding=1), STRIDE)


class ConvLogits(nn.Module):
    """The output layer: feature rows ``(..., c1 * s * s)``, channels-last
    (:func:`maps_to_rows`) -> a transposed convolution to one map of logits, returned as
    ``(..., (2s)²)`` rows."""

    def __init__(self, channels: tuple[int, ...], input_dim: int) -> None:
        super().__init__()
        self.maps = (channels[0], image_side(input_dim) // 2, image_side(input_dim) // 2)
        self.deconv = SubPixelConvTranspose2d(channels[0], 1)

    @property
    def weight(self) -> torch.Tensor:
        return self.deconv.weight

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.deconv(rows_to_maps(features, self.maps)).reshape(*features.shape[:-1], -1)


@functools.cache
def _taps() -> torch.Tensor:
    """``T[k, a, o] = 1`` where kernel tap k of a transposed convolution (kernel 4, stride 2,
    padding 1) feeds output phase a (output index 2m + a) from input index m + o - 1.

    Output 2m + a receives input i through tap k = 2m + a + 1 - 2i: phase 0 reads inputs m - 1
    (k = 3) and m (k = 1), phase 1 reads m (k = 2) and m + 1 (k = 0)."""
    taps = torch.zeros(KERNEL, STRIDE, 3)
    for k, a, offset in ((3, 0, 0), (1, 0, 1), (2, 1, 1), (0, 1, 2)):
        taps[k, a, offset] = 1.0
    return taps


def sub_pixel_weight(weight: torch.Tensor) -> torch.Tensor:
    """A transposed convolution's weight ``(C_in, C_out, 4, 4)`` (stride 2, padding 1) as the
    weight ``(4 C_out, C_in, 3, 3)`` of an ordinary convolution (padding 1) whose 4 C_out maps,
    interleaved by ``pixel_shuffle(·, 2)``, are the transposed convolution's output:

        W'[(c, a, b), i, u, v] = sum_{k, l} W[i, c, k, l] T[k, a, u] T[l, b, v]

    with T from :func:`_taps`. Differentiable, so it serves training as well."""
    if weight.shape[-2:] != (KERNEL, KERNEL):
        raise ValueError(f"expected a {KERNEL}x{KERNEL} kernel, got {tuple(weight.shape)}")
    taps = _taps().to(weight)
    c_in, c_out = weight.shape[:2]
    return torch.einsum("ickl,kau,lbv->cabiuv", weight, taps, taps).reshape(
        STRIDE * STRIDE * c_out, c_in, 3, 3
    )
