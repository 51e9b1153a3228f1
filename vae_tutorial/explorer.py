"""A latent explorer that needs no kernel: the 2-D decoder, run in plain JavaScript in the page.

``explorer_html`` returns one self-contained HTML fragment (no CDN, no third-party runtime): a pad
with the test digits' latent means as coloured dots, where clicking or dragging (or the arrow keys)
moves a point z, and a canvas with sigmoid(decode(z)) redrawn at once. The decoder's weights and
biases travel as IEEE float16 in base64 (2 bytes a number, 4/3 for base64); ``explorer.js`` turns
them back into numbers and runs the forward pass h <- act(W h + b), in float64 arithmetic.
``decode_exported`` is the same forward pass in PyTorch, the reference the tests hold the
JavaScript to. Every element id and CSS rule is scoped to one explorer, so several can share a page.
"""

from __future__ import annotations

import base64
import json
import secrets
from importlib import resources
from typing import Any

import torch
from IPython.display import HTML
from torch import nn

from vae_tutorial.model import ACTIVATIONS, VAE
from vae_tutorial.prior import StandardNormalPrior

__all__ = ["export_decoder", "decode_exported", "explorer_html", "explorer"]

JS_ACTIVATIONS = ("relu", "tanh", "elu")


def _half_base64(tensor: torch.Tensor) -> str:
    """float16, little-endian, row-major, base64."""
    halfs = tensor.detach().cpu().to(torch.float16).contiguous()
    return base64.b64encode(halfs.numpy().astype("<f2").tobytes()).decode("ascii")


def export_decoder(model: VAE) -> list[dict[str, Any]]:
    """The decoder z -> hidden layers -> 784 logits as a list of layers, each
    ``{"in", "out", "weight", "bias", "activation"}`` with float16 base64 weights ``(out, in)``.
    The last layer's activation is ``"sigmoid"``: the export outputs pixel probabilities."""
    _check_exportable(model)
    linears = [m for m in model.decoder if isinstance(m, nn.Linear)] + [model.to_logits]
    _check_weights(linears)
    return [
        {
            "in": layer.in_features,
            "out": layer.out_features,
            "weight": _half_base64(layer.weight),
            "bias": _half_base64(layer.bias),
            "activation": "sigmoid" if k == len(linears) - 1 else model.config.activation,
        }
        for k, layer in enumerate(linears)
    ]


def _check_exportable(model: VAE) -> None:
    """Only what the JavaScript computes: the unconditional MLP decoder of :class:`VAE`, z ->
    ``Linear`` and activation layers -> logits, with an activation it knows, under the N(0, I)
    prior whose circles the pad draws. A variant that changes any of these (a class overriding
    ``decode`` or ``score_logits``, other layers in the decoder, another prior) would be drawn
    wrong, so it is refused, naming the model's class and what the page cannot follow."""
    c, name = model.config, type(model).__name__
    reasons = []
    if c.n_classes:
        reasons.append(f"it is conditional (its decoder also reads a label y among {c.n_classes})")
    if c.architecture != "mlp":
        reasons.append(f"its decoder is {c.architecture}, and the page runs linear layers only")
    if getattr(c, "autoregressive", False):
        reasons.append("its decoder is autoregressive (each pixel also reads earlier pixels)")
    for hook in ("decode", "score_logits"):
        if getattr(type(model), hook) is not getattr(VAE, hook):
            reasons.append(f"{name} overrides {hook}, which the page cannot follow")
    odd = _odd_decoder_layers(model)
    if odd and c.architecture == "mlp":
        reasons.append(f"its decoder holds {', '.join(odd)}: the page runs Linear and "
                       f"{c.activation} layers only")  # fmt: skip
    if not isinstance(getattr(model, "prior", None), StandardNormalPrior):
        prior = type(getattr(model, "prior", None)).__name__
        reasons.append(f"its prior is a {prior}, and the pad draws the circles of N(0, I)")
    if c.activation not in JS_ACTIVATIONS:
        reasons.append(f"its activation {c.activation!r} is not one of {JS_ACTIVATIONS}")
    if reasons:
        raise ValueError(
            f"the no-kernel explorer cannot draw this {name} ({c.describe()}): "
            f"{'; '.join(reasons)}. Use the ipywidgets explorers (vae_tutorial.widgets) with a "
            "kernel instead."
        )


def _odd_decoder_layers(model: VAE) -> list[str]:
    """The classes among the decoder's parts that are neither ``nn.Linear`` nor the config's
    activation (a decoder that is not an ``nn.Sequential`` counts as one part)."""
    parts = [model.decoder, model.to_logits]
    if type(model.decoder) is nn.Sequential:
        parts = [*model.decoder, model.to_logits]
    allowed = (nn.Linear, ACTIVATIONS.get(model.config.activation, nn.Linear))
    return sorted({type(m).__name__ for m in parts if type(m) not in allowed})


def _check_weights(linears: list[nn.Linear]) -> None:
    """Finite weights that float16 can hold (|w| <= 65504), or the page would decode garbage."""
    for k, layer in enumerate(linears):
        for name, tensor in (("weight", layer.weight), ("bias", layer.bias)):
            values = tensor.detach()
            if not torch.isfinite(values).all():
                raise ValueError(f"decoder layer {k}'s {name} holds NaN or infinite values")
            if values.abs().max() > torch.finfo(torch.float16).max:
                raise ValueError(
                    f"decoder layer {k}'s {name} reaches {values.abs().max().item():.3g}, beyond "
                    "float16's 65504: the exported page would decode infinities"
                )


def _read_halfs(text: str, shape: tuple[int, ...]) -> torch.Tensor:
    raw = bytearray(base64.b64decode(text))
    return torch.frombuffer(raw, dtype=torch.float16).reshape(shape).double()


def decode_exported(layers: list[dict[str, Any]], z: torch.Tensor) -> torch.Tensor:
    """The exported decoder's forward pass in float64 PyTorch: pixel probabilities ``(N, 784)``.

    This is exactly what ``explorer.js`` computes (same dequantized weights, same order of
    layers), so it is the reference for the JavaScript.
    """
    activations = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
                   "elu": nn.functional.elu}
    h = z.double().reshape(-1, layers[0]["in"])
    for layer in layers:
        weight = _read_halfs(layer["weight"], (layer["out"], layer["in"]))
        bias = _read_halfs(layer["bias"], (layer["out"],))
        h = activations[layer["activation"]](h @ weight.T + bias)
    return h


def _package_text(name: str) -> str:
    return resources.files("vae_tutorial").joinpath(name).read_text(encoding="utf-8")


def explorer_html(
    model: VAE,
    means: torch.Tensor,
    labels: torch.Tensor,
    n_points: int = 2000,
    extent: float = 4.0,
    seed: int = 0,
    element_id: str | None = None,
) -> str:
    """The explorer of a 2-D ``model`` as one HTML fragment.

    ``means`` ``(N, 2)`` and ``labels`` ``(N,)`` are the test digits' latent means and classes;
    ``n_points`` of them, drawn at random with ``seed``, become the dots (coordinates rounded to
    0.01). The pad spans [-extent, extent]^2. ``element_id`` defaults to a fresh random id.
    """
    if model.config.latent_dim != 2:
        raise ValueError(f"the explorer's pad is 2-D; this model has d = {model.config.latent_dim}")
    if means.dim() != 2 or means.shape[1] != 2 or len(means) != len(labels):
        raise ValueError(
            f"means must be (N, 2) with one label each; got means {tuple(means.shape)} and "
            f"labels {tuple(labels.shape)}"
        )
    if not torch.isfinite(means).all():
        raise ValueError("means holds NaN or infinite values: the dots could not be drawn")
    chosen = torch.randperm(len(means), generator=torch.Generator().manual_seed(seed))[:n_points]
    spec = {
        "layers": export_decoder(model),
        "points": [round(v, 2) for v in means[chosen].reshape(-1).tolist()],
        "labels": "".join(str(int(c)) for c in labels[chosen]),
        "extent": extent,
        "start": [0.0, 0.0],
    }
    element_id = element_id or f"vae-explorer-{secrets.token_hex(6)}"
    spec_json = json.dumps(spec, separators=(",", ":")).replace("</", "<\\/")
    return f"""<div class="vae-explorer" id="{element_id}">
<style>{_package_text("explorer.css")}</style>
<div>
<canvas data-role="pad" width="320" height="320" tabindex="0"
 aria-label="latent plane: click, drag or use the arrow keys to move the point z"></canvas>
<p class="vae-explorer-caption">Latent means of {len(chosen):,} test digits, coloured by class,
over the prior's circles ‖z‖ = 1, 2, 3. Click or drag (or focus and use the arrow keys).</p>
<div class="vae-explorer-legend" data-role="legend"></div>
</div>
<div>
<canvas data-role="digit" width="196" height="196" aria-label="decoded digit"></canvas>
<div data-role="readout"></div>
<p class="vae-explorer-caption">sigmoid(decode(z)), computed by this page's JavaScript from
float16 weights; no kernel, no server.</p>
</div>
<script type="application/json" data-role="spec">{spec_json}</script>
<script>(function () {{
{_package_text("explorer.js")}
const script = document.currentScript;
vaeExplorer(script ? script.parentElement : document.getElementById("{element_id}"));
}})();</script>
</div>"""


def explorer(model: VAE, means: torch.Tensor, labels: torch.Tensor, **kwargs: Any) -> HTML:
    """``explorer_html`` as a notebook cell's output.

    Its script needs no kernel, but a notebook front end decides whether to run it: a page built
    from the notebook (the book's website) runs it; Jupyter and JupyterLab run a saved output's
    script only once the notebook is trusted (File > Trust Notebook) or the cell has been run
    again; in Colab, run the cell.
    """
    return HTML(explorer_html(model, means, labels, **kwargs))
