"""Corruptions: their noise statistics, their validation, and a denoising VAE's training batches."""

import pytest
import torch

from vae_tutorial.corruptions import (
    Corruption,
    corrupt,
    gaussian_noise,
    occlude_half,
    occlude_square,
    salt_and_pepper,
)
from vae_tutorial.data import Batch, Batches


def grey(n: int = 2000, value: float = 0.5) -> torch.Tensor:
    return torch.full((n, 784), value)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_gaussian_noise_has_the_requested_mean_and_standard_deviation():
    x = grey()
    noise = gaussian_noise(x, 0.1, gen()) - x  # clipping is ~never reached 5 sigma from 0.5
    assert abs(noise.mean().item()) < 1e-3
    assert noise.std().item() == pytest.approx(0.1, rel=0.01)


def test_gaussian_noise_is_clipped_to_the_unit_interval():
    out = gaussian_noise(grey(value=1.0), 0.75, gen())
    assert out.min() >= 0 and out.max() <= 1
    assert (out < 1).float().mean().item() == pytest.approx(0.5, abs=0.01)  # x + σε < 1 iff ε < 0


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
def test_salt_and_pepper_replaces_the_requested_share_half_white_half_black(p):
    out = salt_and_pepper(grey(), p, gen())
    hit = out != 0.5
    assert hit.float().mean().item() == pytest.approx(p, abs=0.005)
    if p > 0:
        assert (out[hit] == 1).float().mean().item() == pytest.approx(0.5, abs=0.01)
    assert set(out.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_square_masks_exactly_a_side_by_side_square_at_varied_positions():
    out = occlude_square(torch.ones(500, 28, 28), 14, gen())
    masked = out == 0
    assert (masked.sum(dim=(1, 2)) == 14 * 14).all()
    rows, cols = masked.any(dim=2), masked.any(dim=1)
    assert (rows.sum(1) == 14).all() and (cols.sum(1) == 14).all()  # a square, not scattered
    first_row = rows.float().argmax(dim=1)
    assert len(first_row.unique()) == 15  # every position 0..14 is drawn


def test_half_masks_half_the_image_each_half_about_equally_often():
    out = occlude_half(torch.ones(4000, 784), gen())
    masked = (out == 0).reshape(-1, 28, 28)
    assert (masked.sum(dim=(1, 2)) == 392).all()
    top = masked[:, :14, :].all(dim=(1, 2))
    bottom = masked[:, 14:, :].all(dim=(1, 2))
    left = masked[:, :, :14].all(dim=(1, 2))
    right = masked[:, :, 14:].all(dim=(1, 2))
    assert (top.int() + bottom.int() + left.int() + right.int() == 1).all()
    for half in (top, bottom, left, right):
        assert half.float().mean().item() == pytest.approx(0.25, abs=0.03)


def test_corruptions_keep_shape_and_leave_their_input_alone():
    x = torch.rand(8, 784)
    before = x.clone()
    for text in ["gaussian:0.3", "salt_pepper:0.2", "square:10", "half"]:
        out = Corruption.parse(text)(x, gen())
        assert out.shape == x.shape and not torch.equal(out, x)
    assert torch.equal(x, before)


def test_a_seeded_generator_makes_a_corruption_repeatable():
    x = torch.rand(16, 784)
    c = Corruption("salt_pepper", 0.3)
    assert torch.equal(c(x, gen(5)), c(x, gen(5)))
    assert not torch.equal(c(x, gen(5)), c(x, gen(6)))


def test_a_mixture_gives_each_image_one_of_its_corruptions():
    x = grey(3000)
    out = corrupt(x, [Corruption("salt_pepper", 1.0), Corruption("gaussian", 0.0)], gen())
    noisy = (out != 0.5).any(dim=1)  # salt_pepper:1 changes every pixel; gaussian:0 none
    assert noisy.float().mean().item() == pytest.approx(0.5, abs=0.03)
    assert ((out == 0.5).all(dim=1) | ~(out == 0.5).any(dim=1)).all()


@pytest.mark.parametrize(
    "text, message",
    [
        ("blur:1", "unknown corruption 'blur:1'"),
        ("gaussian", "'gaussian' needs a level, for example gaussian:0.5"),
        ("gaussian:-0.1", "sigma must be a finite number >= 0"),
        ("salt_pepper:1.5", "rate must be in [0, 1]"),
        ("square:3.5", "integer from 1 to 28"),
        ("square:29", "integer from 1 to 28"),
        ("half:2", "'half' takes no level"),
        ("gaussian:x", "is not a number"),
    ],
)
def test_bad_corruptions_are_refused_with_a_clear_message(text, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Corruption.parse(text)


def test_a_corruption_prints_as_it_is_written():
    for text in ["gaussian:0.5", "salt_pepper:0.1", "square:14", "half"]:
        assert str(Corruption.parse(text)) == text


def test_a_batch_that_is_not_images_is_refused():
    with pytest.raises(ValueError, match=r"\(B, 784\) or \(B, 28, 28\)"):
        gaussian_noise(torch.rand(4, 100), 0.1)


def test_batches_with_corruption_pair_a_corrupted_input_with_its_clean_target():
    images = (torch.rand(64, 28, 28) * 255).to(torch.uint8)
    labels = torch.arange(64) % 10
    batches = Batches(
        images,
        labels,
        batch_size=16,
        shuffle=False,
        binarize="none",
        with_labels=True,
        corruption=[Corruption("square", 8)],
    )
    first = next(iter(batches))
    assert isinstance(first, Batch)
    assert torch.equal(first.target, images[:16].reshape(16, -1).float() / 255)
    assert torch.equal(first.y, labels[:16])
    erased = first.x != first.target
    assert erased.any() and (first.x[erased] == 0).all()
