"""Denoising: PSNR by hand, the median filter, the label-preservation score, that every denoiser
sees only the corrupted image, the denoising VAE's loss, and the explorer driven from Python."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vae_tutorial.corruptions import Corruption
from vae_tutorial.data import Batch
from vae_tutorial.denoising import (
    Scores,
    denoisers,
    labels,
    median_filter,
    psnr,
    reconstruct,
    score,
    summarize,
)
from vae_tutorial.latent import decode_means, encode_means
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.widgets import DenoisingExplorer, digit_png


def _vae(seed: int) -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=3, hidden_dims=(16,))).eval()


class InkClassifier(nn.Module):
    """Label 0 .. 3: which quarter of the rows holds the most ink (a stand-in that we can reason
    about exactly)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(len(x), 4, 7 * 28).sum(dim=2)


def _blank_with_ink(rows: list[int]) -> torch.Tensor:
    x = torch.zeros(len(rows), 28, 28)
    for i, r in enumerate(rows):
        x[i, r, 10:18] = 1.0
    return x.reshape(len(rows), 784)


def test_psnr_matches_a_hand_computation_and_is_infinite_for_identical_images() -> None:
    clean = torch.full((2, 784), 0.5)
    estimate = clean.clone()
    estimate[0] += 0.1  # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB
    estimate[1, :392] -= 0.2  # MSE 0.04 / 2 = 0.02 -> 10 log10(50) = 16.9897 dB
    torch.testing.assert_close(
        psnr(estimate, clean), torch.tensor([20.0, 10 * math.log10(50)], dtype=torch.float64)
    )
    assert psnr(clean, clean).tolist() == [math.inf, math.inf]
    with pytest.raises(ValueError, match="one shape"):
        psnr(clean, clean[:, :100])


def test_the_test_set_psnr_is_that_of_the_mean_squared_error_with_a_delta_method_error() -> None:
    mse = torch.tensor([0.01, 0.03, 0.0], dtype=torch.float64)  # an unchanged image: MSE 0
    s = Scores(mse, torch.tensor([True, False, True]))
    value, se = s.psnr()
    assert value == pytest.approx(10 * math.log10(1 / (0.04 / 3)))  # finite despite the 0
    assert se == pytest.approx(10 / math.log(10) * mse.std().item() / math.sqrt(3) / (0.04 / 3))
    share, share_se = s.preserved_share()
    assert share == pytest.approx(2 / 3)
    assert share_se == pytest.approx(math.sqrt(2 / 3 * 1 / 3 / 3))


def test_the_median_filter_removes_an_isolated_pixel_and_rounds_a_block_s_corners() -> None:
    x = torch.zeros(2, 28, 28)
    x[0, 5, 5] = 1.0  # salt on blank paper: 1 of its 9 neighbours is ink
    x[1, 10:20, 10:20] = 1.0  # a 10 x 10 block: a corner sees 4 of 9 ink, an edge 6 of 9
    out = median_filter(x.reshape(2, 784)).reshape(2, 28, 28)
    assert out[0].sum() == 0
    expected = x[1].clone()
    for r, c in [(10, 10), (10, 19), (19, 10), (19, 19)]:
        expected[r, c] = 0.0
    torch.testing.assert_close(out[1], expected)


def test_label_preservation_counts_agreement_with_the_label_of_the_clean_image() -> None:
    clean = _blank_with_ink([1, 8, 15, 22])  # InkClassifier labels 0, 1, 2, 3
    assert labels(InkClassifier(), clean).tolist() == [0, 1, 2, 3]
    methods = {"identity": lambda x: x, "moved": lambda x: x.roll(7 * 28, dims=1)}
    _, scores = score(clean, Corruption("gaussian", 0.0), methods, InkClassifier())
    assert scores["identity"].preserved.all()
    assert not scores["moved"].preserved.any()  # sharp, but every digit became another one
    rows = summarize({Corruption("gaussian", 0.0): scores})
    assert [r["label kept (%)"] for r in rows] == [100.0, 0.0]
    assert rows[0]["PSNR (dB)"] == math.inf  # every estimate identical: MSE 0


def test_every_denoiser_is_given_the_corrupted_images_never_the_clean_ones() -> None:
    """The mistake to catch: encoding the clean test set in a denoising comparison."""
    seen: list[torch.Tensor] = []

    class SpyVAE(VAE):
        def encode(self, x, *args):  # type: ignore[override]
            seen.append(x.detach().clone())
            return super().encode(x, *args)

    torch.manual_seed(0)
    spy = SpyVAE(VAEConfig(latent_dim=3, hidden_dims=(16,))).eval()
    clean = torch.rand(50, 784)
    corruption = Corruption("salt_pepper", 0.3)
    corrupted, _ = score(clean, corruption, denoisers(spy, spy), InkClassifier(), seed=7)
    assert len(seen) == 2  # the VAE and the denoising VAE, one batch each
    for x in seen:
        torch.testing.assert_close(x, corrupted)
        assert not torch.equal(x, clean)
    expected = corruption(clean, torch.Generator().manual_seed(7))
    torch.testing.assert_close(corrupted, expected)  # the seeded draw, reproducible


def test_reconstruct_decodes_the_encoder_mean() -> None:
    model, x = _vae(0), torch.rand(5, 784)
    mean, _ = encode_means(model, x)
    torch.testing.assert_close(reconstruct(model, x), decode_means(model, mean))


def test_the_denoising_vae_loss_encodes_the_corrupted_input_and_scores_the_clean_target() -> None:
    model = _vae(1)
    clean = torch.bernoulli(torch.full((4, 784), 0.3), generator=torch.Generator().manual_seed(0))
    corrupted = Corruption("half")(clean, torch.Generator().manual_seed(1))
    torch.manual_seed(2)
    out = model.loss(Batch(corrupted, target=clean))
    torch.manual_seed(2)  # the same eps, by hand
    mean, log_var = model.encode(corrupted)
    z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
    rec = nn.functional.binary_cross_entropy_with_logits(
        model.decode(z), clean, reduction="sum"
    ) / len(clean)
    kl = -0.5 * (1 + log_var - mean**2 - log_var.exp()).sum() / len(clean)
    torch.testing.assert_close(out.reconstruction, rec)
    torch.testing.assert_close(out.kl, kl)
    # one training step lowers the loss on this batch
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    before = out.loss.item()
    for _ in range(5):
        optimizer.zero_grad()
        model.loss(Batch(corrupted, target=clean)).loss.backward()
        optimizer.step()
    torch.manual_seed(2)
    assert model.loss(Batch(corrupted, target=clean)).loss.item() < before


def test_the_explorer_shows_one_estimate_per_denoiser_for_each_setting() -> None:
    calls = {"encode": 0, "decode": 0}

    class CountingVAE(VAE):
        def encode(self, x, *args):  # type: ignore[override]
            calls["encode"] += 1
            return super().encode(x, *args)

        def decode(self, z, *args):  # type: ignore[override]
            calls["decode"] += 1
            return super().decode(z, *args)

    torch.manual_seed(0)
    vae = CountingVAE(VAEConfig(latent_dim=3, hidden_dims=(16,))).eval()
    images = (torch.rand(20, 28, 28) * 255).to(torch.uint8)
    explorer = DenoisingExplorer(images, denoisers(vae, vae), classifier=InkClassifier())
    assert explorer.level.value == 0.5 and explorer.corruption() == Corruption("gaussian", 0.5)
    calls.update(encode=0, decode=0)
    explorer.index.value = 3
    assert calls == {"encode": 2, "decode": 2}  # one encode and one decode per VAE per change
    clean = images[3].reshape(1, -1).float() / 255
    corrupted = Corruption("gaussian", 0.5)(clean, torch.Generator().manual_seed(3))
    assert explorer.panels["clean"].value == digit_png(clean[0], explorer.scale)
    assert explorer.panels["corrupted"].value == digit_png(corrupted[0], explorer.scale)
    assert explorer.panels["VAE"].value == digit_png(reconstruct(vae, corrupted)[0], explorer.scale)
    assert f"{psnr(corrupted, clean).item():.1f} dB" in explorer.captions["corrupted"].value
    assert "looks like a" in explorer.captions["VAE"].value

    explorer.kind.value = "square"  # the slider becomes the square's side, 1 to 28
    assert explorer.level.value == 14 and explorer.corruption() == Corruption("square", 14)
    before = explorer.panels["corrupted"].value
    explorer.level.value = 20
    assert explorer.panels["corrupted"].value != before
    explorer.kind.value = "half"
    assert explorer.level.disabled and explorer.corruption() == Corruption("half")
    calls.update(encode=0, decode=0)
    explorer.kind.value = "salt_pepper"
    assert calls == {"encode": 2, "decode": 2}  # reconfiguring the slider updates once
    assert explorer.corruption() == Corruption("salt_pepper", 0.2)
