"""The ipywidgets explorers, driven from Python as a kernel would drive them."""

from __future__ import annotations

import io

import pytest
import torch
from PIL import Image

from vae_tutorial.digit_classifier import confidence, train_digit_classifier
from vae_tutorial.latent import decode_means, encode_means, principal_directions, slerp
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.widgets import InterpolationExplorer, LatentSliders, digit_png


@pytest.fixture(scope="module")
def model2() -> VAE:
    torch.manual_seed(0)
    return VAE(VAEConfig(latent_dim=2, hidden_dims=(32,))).eval()


@pytest.fixture(scope="module")
def model5() -> VAE:
    torch.manual_seed(1)
    return VAE(VAEConfig(latent_dim=5, hidden_dims=(32,))).eval()


def _pixels(png: bytes) -> torch.Tensor:
    return torch.tensor(list(Image.open(io.BytesIO(png)).getdata()), dtype=torch.uint8)


def test_digit_png_is_ink_on_white_scaled_without_blur() -> None:
    p = torch.zeros(784)
    p[0] = 1.0
    image = Image.open(io.BytesIO(digit_png(p, scale=3)))
    assert image.size == (84, 84) and image.mode == "L"
    assert image.getpixel((0, 0)) == 0 and image.getpixel((2, 2)) == 0  # full ink: black block
    assert image.getpixel((3, 3)) == 255  # no ink: white paper


def test_coordinate_sliders_decode_the_slider_values(model2: VAE) -> None:
    explorer = LatentSliders.coordinates(model2)
    assert [s.description for s in explorer.sliders] == ["z1", "z2"]
    explorer.sliders[0].value = 1.25
    explorer.sliders[1].value = -0.5
    z = torch.tensor([[1.25, -0.5]])
    torch.testing.assert_close(explorer.z(), z[0])
    assert explorer.image.value == digit_png(decode_means(model2, z)[0])
    assert "1.25" in explorer.readout.value


def test_principal_sliders_move_along_the_principal_directions(model5: VAE) -> None:
    means = torch.randn(400, 5, generator=torch.Generator().manual_seed(0)) * torch.tensor(
        [2.0, 1.0, 0.5, 0.3, 0.2]
    )
    explorer = LatentSliders.principal(model5, means, k=3)
    centre, directions, stds = principal_directions(means, 3)
    torch.testing.assert_close(explorer.z(), centre)
    explorer.sliders[1].value = 2.0
    want = centre + 2.0 * stds[1] * directions[1]
    torch.testing.assert_close(explorer.z(), want)
    assert explorer.image.value == digit_png(decode_means(model5, want[None])[0])


def test_interpolation_explorer_follows_t_method_and_endpoints(model5: VAE) -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (30, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(30) % 10
    explorer = InterpolationExplorer(model5, images, labels, start=(3, 1), end=("any", 5))
    assert explorer.test_index(0) == 13 and explorer.test_index(1) == 5
    means, _ = encode_means(model5, images[[13, 5]])
    explorer.t.value = 0.3
    want = slerp(means[0], means[1], 0.3)
    assert explorer.image.value == digit_png(decode_means(model5, want)[0])
    explorer.method.value = "lerp"
    want = 0.7 * means[0] + 0.3 * means[1]
    torch.testing.assert_close(explorer.z(), want, atol=1e-6, rtol=1e-6)
    assert f"‖z(t)‖ = {want.norm():.2f}" in explorer.readout.value
    explorer.classes[1].value = 9
    explorer.indices[1].value = 2  # the third 9: test digit 29
    assert explorer.test_index(1) == 29
    means, _ = encode_means(model5, images[[13, 29]])
    torch.testing.assert_close(explorer.z(), 0.7 * means[0] + 0.3 * means[1], atol=1e-6, rtol=1e-6)
    assert explorer.endpoint_images[1].value == digit_png(images[29].float() / 255, 4)


def test_explorers_say_they_need_a_kernel(model2: VAE) -> None:
    bundle = LatentSliders.coordinates(model2)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "kernel" in bundle["text/plain"]


def test_digit_classifier_learns_and_reports_confidence(small_mnist) -> None:
    classifier = train_digit_classifier(small_mnist.train_images, small_mnist.train_labels,
                                        epochs=10)
    label, best = confidence(classifier, small_mnist.test_images)
    assert (label == small_mnist.test_labels).float().mean() > 0.8
    assert ((best > 0.1) & (best <= 1)).all()


# Bad input: refused with a clear message, or ignored without drawing garbage -------------------


def test_float_images_in_0_1_are_drawn_as_they_are(model5: VAE) -> None:
    """Float images in [0, 1] must not be divided by 255 again (they came out blank)."""
    from vae_tutorial.denoising import median_filter
    from vae_tutorial.widgets import DenoisingExplorer

    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (30, 28, 28), generator=g, dtype=torch.uint8)
    labels = torch.arange(30) % 10
    as_float = images.float() / 255
    a = InterpolationExplorer(model5, images, labels, start=(3, 1), end=("any", 5))
    b = InterpolationExplorer(model5, as_float, labels, start=(3, 1), end=("any", 5))
    assert a.image.value == b.image.value
    assert [i.value for i in a.endpoint_images] == [i.value for i in b.endpoint_images]
    seen = []
    methods = {"median": lambda x: seen.append(x.clone()) or median_filter(x)}
    DenoisingExplorer(as_float, methods).kind.value = "half"
    assert seen[-1].max() > 0.9, "the denoiser saw the digit divided by 255 again"
    with pytest.raises(ValueError, match=r"float images must hold pixel values in \[0, 1\]"):
        InterpolationExplorer(model5, images.float(), labels)


def test_a_nan_slider_or_level_changes_nothing(model2: VAE) -> None:
    from vae_tutorial.widgets import DenoisingExplorer

    explorer = LatentSliders.coordinates(model2)
    before = explorer.image.value
    explorer.sliders[0].value = float("nan")
    assert explorer.image.value == before and "invalid" in explorer.readout.value
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    denoising = DenoisingExplorer(images, {"same": lambda x: x})
    denoising.level.value = float("nan")
    assert "invalid level" in denoising.captions["clean"].value
    denoising.level.value = 0.3  # a later change works again
    assert "dB" in denoising.captions["same"].value


def test_wrong_models_classifiers_means_and_scales_are_refused(model2: VAE, model5: VAE) -> None:
    from vae_tutorial.model import ConditionalVAE
    from vae_tutorial.widgets import DenoisingExplorer

    conditional = ConditionalVAE(VAEConfig(latent_dim=2, hidden_dims=(16,), n_classes=10))
    with pytest.raises(ValueError, match="also needs a label y"):
        LatentSliders.coordinates(conditional)
    means = torch.randn(50, 5)
    with pytest.raises(ValueError, match=r"this model's latent means, \(N >= 2, 5\)"):
        LatentSliders.principal(model5, torch.randn(50, 3))
    with pytest.raises(ValueError, match="1 <= k <= 5"):
        LatentSliders.principal(model5, means, k=6)
    with pytest.raises(ValueError, match="NaN"):
        LatentSliders.principal(model5, means.index_fill(0, torch.tensor([0]), float("nan")))
    images = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
    with pytest.raises(TypeError, match="a VAE is not a classifier"):
        DenoisingExplorer(images, {"same": lambda x: x}, classifier=model2)
    with pytest.raises(ValueError, match="scale is the size of a pixel"):
        digit_png(torch.zeros(784), scale=0)
    labels = torch.zeros(3, dtype=torch.long)  # no digit of class 7
    explorer = InterpolationExplorer(model5, images, labels, start=(0, 0), end=(0, 1))
    explorer.classes[1].value = 7
    assert "no test digit of class 7" in explorer.readout.value


def test_the_judge_is_made_by_the_cli_saved_and_loaded(tmp_path, monkeypatch) -> None:
    """One judge: `python -m vae_tutorial judge` trains, scores and records it; it loads back."""
    import json

    from vae_tutorial.__main__ import main
    from vae_tutorial.digit_classifier import load_classifier

    monkeypatch.setenv("VAE_TUTORIAL_FALLBACK", "1")
    out = tmp_path / "judge.pt"
    argv = ["judge", "--epochs", "1", "--out", str(out)]
    monkeypatch.setattr("sys.argv", ["vae_tutorial", *argv])  # what the record's command copies
    main(argv)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["commands"] == [f"python -m vae_tutorial judge --epochs 1 --out {out}"]
    assert 0.5 < record["evaluation"]["test_accuracy"] <= 1
    assert 0 <= record["evaluation"]["noise_sure_share"] <= 1
    judge = load_classifier(out)
    assert judge(torch.zeros(3, 784)).shape == (3, 10)
    with pytest.raises(ValueError, match="not a vae_tutorial digit classifier"):
        torch.save({"format": "other"}, tmp_path / "x.pt")
        load_classifier(tmp_path / "x.pt")


def test_the_reference_judge_has_its_record() -> None:
    import json
    from pathlib import Path

    from vae_tutorial.digit_classifier import load_classifier

    path = Path(__file__).resolve().parent.parent / "checkpoints" / "mnist_judge.pt"
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["data"].startswith("full MNIST") and record["evaluation"]["test_digits"] == 10_000
    assert record["commands"] == ["python -m vae_tutorial judge --out checkpoints/mnist_judge.pt"]
    load_classifier(path)
