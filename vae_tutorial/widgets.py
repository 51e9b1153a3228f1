"""ipywidgets explorers of a VAE's latent space and of denoising, for a live kernel (Jupyter,
VS Code, Colab).

Every change of a control costs one decoder call: the new z is decoded to pixel probabilities
sigmoid(decode(z)), encoded as PNG bytes, and written to an ``ipywidgets.Image``. No figure is
re-plotted. The explorers take their values from :mod:`vae_tutorial.latent`, so a test (or a
benchmark) can drive them from Python: set a slider, read ``image.value``.

On a static page nothing runs these callbacks; :mod:`vae_tutorial.explorer` is the stand-in that
needs no kernel.
"""

from __future__ import annotations

import io
import math
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from PIL import Image

from vae_tutorial.corruptions import Corruption
from vae_tutorial.denoising import Denoiser, psnr
from vae_tutorial.latent import decode_means, encode_means, interpolate, principal_directions
from vae_tutorial.model import VAE

__all__ = [
    "digit_png",
    "unit_images",
    "LatentSliders",
    "InterpolationExplorer",
    "DenoisingExplorer",
]

KERNEL_NOTE = "(an ipywidgets explorer: it needs a running Python kernel, e.g. in Colab)"


def _check_scale(scale: int) -> int:
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= 64:
        raise ValueError(f"scale is the size of a pixel in screen pixels, 1 to 64; got {scale!r}")
    return scale


def _check_model(model: object) -> VAE:
    """The explorers decode z alone: any VAE whose decoder needs nothing else."""
    if not isinstance(model, VAE):
        raise TypeError(f"model must be a vae_tutorial VAE, got {type(model).__name__}")
    if model.config.n_classes:
        raise ValueError(
            f"these explorers decode z alone, and this {model.config.describe()} also needs a "
            "label y: explore it with fixed labels through model.decode(z, y) instead"
        )
    return model.eval()


def unit_images(images: torch.Tensor) -> torch.Tensor:
    """Images as float pixels in [0, 1]: uint8 (0-255) is divided by 255, floats are checked
    to lie in [0, 1] already (dividing them again would draw blank digits)."""
    if images.dtype == torch.uint8:
        return images.float() / 255
    if not images.is_floating_point():
        raise TypeError(f"images must be uint8 (0-255) or float in [0, 1], got {images.dtype}")
    if not torch.isfinite(images).all() or images.min() < 0 or images.max() > 1:
        raise ValueError(
            "float images must hold pixel values in [0, 1]; these range over "
            f"[{images.min().item():.3g}, {images.max().item():.3g}] (uint8 images: pass them as "
            "they are, they are divided by 255 here)"
        )
    return images.float()


def digit_png(probabilities: torch.Tensor, scale: int = 5) -> bytes:
    """PNG bytes of one digit: 784 pixel probabilities as ink (1 = black) on white paper,
    each pixel drawn as a ``scale`` x ``scale`` block (no blur from the browser's scaling)."""
    _check_scale(scale)
    ink = probabilities.detach().reshape(28, 28).clamp(0, 1).cpu().numpy()
    gray = np.rint(255 * (1 - ink)).astype(np.uint8)
    gray = gray.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    Image.fromarray(gray, mode="L").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _check_classifier(classifier: torch.nn.Module | None) -> torch.nn.Module | None:
    """A digit classifier maps ``(N, 784)`` pixels to ``(N, classes)`` scores; a VAE does not."""
    if classifier is None:
        return None
    with torch.no_grad():
        try:
            parameter = next(classifier.parameters(), None)
            device = parameter.device if parameter is not None else torch.device("cpu")
            scores = classifier(torch.zeros(2, 784, device=device))
        except Exception as err:  # noqa: BLE001 - anything that is not a classifier
            raise TypeError(
                f"classifier must map (N, 784) pixels to (N, classes) scores; calling this "
                f"{type(classifier).__name__} failed ({type(err).__name__}: {err})"
            ) from None
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != 2:
        got = type(scores).__name__ if not isinstance(scores, torch.Tensor) else tuple(scores.shape)
        raise TypeError(
            f"classifier must map (N, 784) pixels to (N, classes) scores; this "
            f"{type(classifier).__name__} returns {got} (a VAE is not a classifier: use "
            "vae_tutorial.digit_classifier)"
        )
    return classifier


class _Explorer:
    """Shared display: the widget tree, with a plain-text note where widgets cannot render."""

    widget: w.Widget

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.widget._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = f"{type(self).__name__} {KERNEL_NOTE}"
        return bundle


class LatentSliders(_Explorer):
    """Sliders a_1..a_k over the latent point z = centre + sum_k a_k s_k u_k, and its decoding.

    For a 2-D model, ``LatentSliders.coordinates(model)`` uses u_k = e_k, s_k = 1 and centre 0:
    the sliders are z_1 and z_2 themselves. For a larger model,
    ``LatentSliders.principal(model, means, k)`` uses the top k principal directions u_k of the
    data's latent means, s_k their standard deviations, and their average as centre, so a slider
    at a = 2 sits two standard deviations out along its direction.
    """

    def __init__(
        self,
        model: VAE,
        centre: torch.Tensor,
        directions: torch.Tensor,
        scales: torch.Tensor,
        names: list[str],
        limit: float = 3.0,
        scale: int = 5,
    ) -> None:
        self.model, self.scale = _check_model(model), _check_scale(scale)
        self.centre, self.directions, self.scales = centre.float(), directions.float(), scales
        self.sliders = [
            w.FloatSlider(
                value=0.0, min=-limit, max=limit, step=0.05, description=name,
                continuous_update=True, readout_format=".2f",
            )
            for name in names
        ]
        self.image = w.Image(format="png", width=28 * scale, height=28 * scale)
        self.readout = w.HTML()
        for slider in self.sliders:
            slider.observe(self.update, names="value")
        self.widget = w.HBox(
            [w.VBox(self.sliders), w.VBox([self.image, self.readout])],
            layout=w.Layout(align_items="center"),
        )
        self.update()

    @classmethod
    def coordinates(cls, model: VAE, limit: float = 3.0, scale: int = 5) -> LatentSliders:
        """One slider per latent coordinate (meant for d = 2)."""
        d = model.config.latent_dim
        names = [f"z{j + 1}" for j in range(d)]
        return cls(model, torch.zeros(d), torch.eye(d), torch.ones(d), names, limit, scale)

    @classmethod
    def principal(
        cls, model: VAE, means: torch.Tensor, k: int = 4, limit: float = 3.0, scale: int = 5
    ) -> LatentSliders:
        """One slider per top principal direction of ``means``, in standard deviations."""
        d = _check_model(model).config.latent_dim
        if means.dim() != 2 or means.shape[1] != d or len(means) < 2:
            raise ValueError(
                f"means must be this model's latent means, (N >= 2, {d}); got {tuple(means.shape)}"
            )
        if not torch.isfinite(means).all():
            raise ValueError("means holds NaN or infinite values; encode the digits again")
        if not 1 <= k <= d:
            raise ValueError(f"k principal directions of a {d}-D code: 1 <= k <= {d}, got {k}")
        centre, directions, stds = principal_directions(means, k)
        names = [f"PC{j + 1} (sd)" for j in range(k)]
        return cls(model, centre, directions, stds, names, limit, scale)

    def z(self) -> torch.Tensor:
        """The latent point the sliders describe, ``(d,)``."""
        a = torch.tensor([s.value for s in self.sliders], dtype=torch.float32)
        return self.centre + (a * self.scales) @ self.directions

    def update(self, change: object = None) -> None:
        """Decode the sliders' z (one decoder call) and show it; a NaN value changes nothing."""
        if not all(math.isfinite(s.value) for s in self.sliders):
            self.readout.value = "invalid slider value (not a number): the digit is unchanged"
            return
        z = self.z()
        self.image.value = digit_png(decode_means(self.model, z[None])[0], self.scale)
        shown = ", ".join(f"{v:.2f}" for v in z[:4].tolist()) + (", ..." if len(z) > 4 else "")
        self.readout.value = f"z = ({shown})<br>‖z‖ = {z.norm():.2f}"


class InterpolationExplorer(_Explorer):
    """Two test digits, encoded to their posterior means z_0 and z_1, and a slider t in [0, 1]
    along the lerp or slerp path between them; the readout shows ||z(t)|| next to sqrt(d).

    Each endpoint is chosen by class (or "any") and an index: with a class, the index counts the
    test digits of that class; with "any", it indexes the whole test set.
    """

    def __init__(
        self,
        model: VAE,
        images: torch.Tensor,
        labels: torch.Tensor,
        start: tuple[int | str, int] = (2, 0),
        end: tuple[int | str, int] = (7, 0),
        scale: int = 4,
    ) -> None:
        self.model, self.labels = _check_model(model), labels
        self.images, self.scale = unit_images(images), _check_scale(scale)
        classes: list[Any] = ["any", *range(10)]
        self.classes = [w.Dropdown(options=classes, value=c, layout=w.Layout(width="5.5em"))
                        for c in (start[0], end[0])]
        self.indices = [w.BoundedIntText(value=i, min=0, max=len(images) - 1,
                                         layout=w.Layout(width="6em"))
                        for i in (start[1], end[1])]
        self.method = w.ToggleButtons(options=["lerp", "slerp"], value="slerp")
        self.t = w.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.02, description="t",
                               continuous_update=True)
        size = 28 * scale
        self.endpoint_images = [w.Image(format="png", width=size, height=size) for _ in range(2)]
        self.image = w.Image(format="png", width=28 * 5, height=28 * 5)
        self.readout = w.HTML()
        for control in (*self.classes, *self.indices):
            control.observe(self._new_endpoints, names="value")
        self.method.observe(self.update, names="value")
        self.t.observe(self.update, names="value")
        pickers = [
            w.HBox([w.Label(name), cls, idx])
            for name, cls, idx in zip(("from", "to"), self.classes, self.indices, strict=True)
        ]
        self.widget = w.VBox([
            w.HBox([*pickers, self.method]),
            w.HBox([self.endpoint_images[0], self.image, self.endpoint_images[1], self.readout],
                   layout=w.Layout(align_items="center")),
            self.t,
        ])
        self._new_endpoints()

    def test_index(self, which: int) -> int:
        """Index into the test set of endpoint ``which`` (0 or 1)."""
        cls, i = self.classes[which].value, self.indices[which].value
        if cls == "any":
            return min(i, len(self.images) - 1)
        members = torch.nonzero(self.labels == cls).flatten()
        if len(members) == 0:
            raise LookupError(f"no test digit of class {cls} here")
        return int(members[min(i, len(members) - 1)])

    def _new_endpoints(self, change: object = None) -> None:
        try:
            chosen = [self.test_index(0), self.test_index(1)]
        except LookupError as err:
            self.readout.value = f"{err}: choose another class"
            return
        self.endpoints, _ = encode_means(self.model, self.images[chosen])
        for image, index in zip(self.endpoint_images, chosen, strict=True):
            image.value = digit_png(self.images[index], self.scale)
        self.update()

    def z(self) -> torch.Tensor:
        """z(t) on the chosen path between the two endpoints' posterior means, ``(d,)``."""
        return interpolate(self.endpoints[0], self.endpoints[1], self.t.value, self.method.value)[0]

    def update(self, change: object = None) -> None:
        """Decode z(t) (one decoder call) and show it with its norm."""
        if not math.isfinite(self.t.value) or not hasattr(self, "endpoints"):
            self.readout.value = "invalid t (not a number): the digit is unchanged"
            return
        z = self.z()
        self.image.value = digit_png(decode_means(self.model, z[None])[0], 5)
        a, b = self.endpoints.norm(dim=1).tolist()
        self.readout.value = (
            f"{self.method.value}, t = {self.t.value:.2f}<br>‖z(t)‖ = {z.norm():.2f}<br>"
            f"endpoints: {a:.2f}, {b:.2f}<br>√d = {math.sqrt(len(z)):.2f}"
        )


class DenoisingExplorer(_Explorer):
    """A test digit, a corruption and its level, and every denoiser's estimate side by side.

    Each change corrupts the chosen clean digit (the noise seeded by the digit's index, so a
    setting always shows the same draw) and runs each denoiser once on the corrupted image: one
    encoder and one decoder call per VAE. Under each image: its PSNR against the clean digit and,
    with a ``classifier``, the label it gives.
    """

    LEVELS = {  # kind -> (min, max, step, start)
        "gaussian": (0.0, 1.0, 0.05, 0.5),
        "salt_pepper": (0.0, 1.0, 0.05, 0.2),
        "square": (1, 28, 1, 14),
    }

    def __init__(
        self,
        images: torch.Tensor,
        methods: dict[str, Denoiser],
        classifier: torch.nn.Module | None = None,
        index: int = 0,
        scale: int = 4,
    ) -> None:
        self.images, self.methods = unit_images(images), methods
        self.classifier = _check_classifier(classifier)
        self.kind = w.Dropdown(options=["gaussian", "salt_pepper", "square", "half"],
                               value="gaussian", description="corruption")
        self.level = w.FloatSlider(description="level", continuous_update=True)
        self.index = w.BoundedIntText(value=index, min=0, max=len(images) - 1,
                                      description="test digit", layout=w.Layout(width="14em"))
        names = ["clean", *methods]
        size = 28 * scale
        self.panels = {name: w.Image(format="png", width=size, height=size) for name in names}
        self.captions = {name: w.HTML() for name in names}
        self._configuring = False
        self.kind.observe(self._new_kind, names="value")
        self.level.observe(self.update, names="value")
        self.index.observe(self.update, names="value")
        self.scale = _check_scale(scale)
        self.widget = w.VBox([
            w.HBox([self.kind, self.level, self.index]),
            w.HBox([w.VBox([self.panels[n], self.captions[n]],
                           layout=w.Layout(align_items="center", margin="0 6px"))
                    for n in names]),
        ])
        self._new_kind()

    def corruption(self) -> Corruption:
        """The corruption the controls describe."""
        if self.kind.value == "half":
            return Corruption("half")
        level = self.level.value
        return Corruption(self.kind.value, round(level) if self.kind.value == "square" else level)

    def _new_kind(self, change: object = None) -> None:
        self._configuring = True  # setting min, max and value fires the slider's observers
        if self.kind.value == "half":
            self.level.disabled = True
        else:
            low, high, step, start = self.LEVELS[self.kind.value]
            self.level.disabled = False
            self.level.min, self.level.max = -1e9, 1e9  # widen first: min may not exceed max
            self.level.min, self.level.max, self.level.step = low, high, step
            self.level.value = start
        self._configuring = False
        self.update()

    def update(self, change: object = None) -> None:
        """Corrupt the chosen digit and show every denoiser's estimate (one call each)."""
        if self._configuring:
            return
        if self.kind.value != "half" and not math.isfinite(self.level.value):
            self.captions["clean"].value = "<b>clean</b><br>invalid level (not a number)"
            return
        i = self.index.value
        clean = self.images[i : i + 1].reshape(1, -1)
        generator = torch.Generator().manual_seed(i)
        corrupted = self.corruption()(clean, generator)
        shown = {"clean": clean, **{n: f(corrupted.clone()) for n, f in self.methods.items()}}
        for name, x in shown.items():
            self.panels[name].value = digit_png(x[0], self.scale)
            caption = f"<b>{name}</b>"
            if name != "clean":
                caption += f"<br>{psnr(x, clean).item():.1f} dB"
            if self.classifier is not None:
                with torch.no_grad():
                    label = self.classifier(x.reshape(1, -1)).argmax().item()
                caption += f"<br>looks like {'an' if label == 8 else 'a'} {label}"
            self.captions[name].value = caption
