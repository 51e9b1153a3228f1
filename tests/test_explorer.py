"""The no-kernel explorer: its float16 export, its HTML, and its JavaScript in headless Chromium.

The Chromium tests load the generated HTML directly (no built site) and skip, saying why, when no
chromium is installed. They take a few seconds.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Iterator

import pytest
import torch

from vae_tutorial.explorer import decode_exported, explorer, explorer_html, export_decoder
from vae_tutorial.latent import decode_means
from vae_tutorial.model import VAE, VAEConfig
from vae_tutorial.train import load_model, reference_checkpoint

FIXED_POINTS = [[0.0, 0.0], [1.5, -0.7], [-2.2, 2.9], [3.9, 3.9], [-0.01, 0.33]]


@pytest.fixture(scope="module")
def model() -> VAE:
    return load_model(reference_checkpoint("mnist_latent2")).eval()


@pytest.fixture(scope="module")
def points() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(500, 2, generator=g), torch.randint(0, 10, (500,), generator=g)


def test_export_is_float16_and_round_trips(model: VAE) -> None:
    layers = export_decoder(model)
    assert [(layer["in"], layer["out"]) for layer in layers] == [(2, 256), (256, 784)]
    assert [layer["activation"] for layer in layers] == ["relu", "sigmoid"]
    n_params = sum(layer["in"] * layer["out"] + layer["out"] for layer in layers)
    n_bytes = sum(len(base64.b64decode(layer[k])) for layer in layers for k in ("weight", "bias"))
    assert n_bytes == 2 * n_params
    half = torch.nn.utils.parameters_to_vector(
        [p.detach().half().float() for p in (*model.decoder.parameters(),
                                             *model.to_logits.parameters())]
    )
    assert half.numel() == n_params
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(1)) * 2
    exported = decode_exported(layers, z)
    full = decode_means(model, z).double()
    cost = (exported - full).abs().max().item()
    assert 0 < cost < 5e-3, f"float16 weights moved a pixel by {cost}"


def test_html_is_self_contained_small_and_scoped(model: VAE, points) -> None:
    html = explorer_html(model, *points, n_points=300)
    assert len(html.encode()) < 1.5e6
    assert not re.search(r"(src|href)\s*=", html), "the explorer must load nothing"
    assert "http://" not in html and "https://" not in html
    ids = re.findall(r'id="([^"]+)"', html)
    assert len(ids) == 1 and ids[0].startswith("vae-explorer-")
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    selectors = [s.strip() for rule in re.findall(r"([^{}]+)\{", re.sub(r"/\*.*?\*/", "", css,
                                                                    flags=re.S))
                 for s in rule.split(",")]
    assert selectors and all(s.startswith(".vae-explorer") for s in selectors), selectors
    spec = json.loads(re.search(r'data-role="spec">(.*?)</script>', html, re.S).group(1))
    assert len(spec["labels"]) == 300 and len(spec["points"]) == 600
    assert explorer_html(model, *points) != explorer_html(model, *points), "ids must be unique"
    assert explorer(model, *points, element_id="x").data == explorer_html(
        model, *points, element_id="x"
    )


def test_explorer_needs_a_2d_model(points) -> None:
    with pytest.raises(ValueError, match="2-D"):
        explorer_html(VAE(VAEConfig(latent_dim=3, hidden_dims=(8,))), *points)


def _chromium() -> str | None:
    return (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )


@pytest.fixture(scope="module")
def page_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    path = _chromium()
    if not path:
        pytest.skip("no chromium: install it (apt-get install chromium) or set CHROMIUM=...")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=path, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )

        def new_page(html: str):
            page = browser.new_page(viewport={"width": 1000, "height": 700})
            page.errors, page.requests = [], []
            page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))
            page.on("request", lambda r: page.requests.append(r.url))
            page.set_content(f"<!doctype html><html><body>{html}</body></html>")
            return page

        yield new_page
        browser.close()


def _digit(page, element_id: str) -> str:
    return page.evaluate(
        f"() => document.querySelector('#{element_id} canvas[data-role=digit]').toDataURL()"
    )


def test_javascript_decoder_matches_pytorch(model: VAE, points, page_factory) -> None:
    page = page_factory(explorer_html(model, *points, element_id="ex-a"))
    got = torch.tensor(page.evaluate(
        "(zs) => zs.map(z => document.getElementById('ex-a').vaeExplorer.decode(z))", FIXED_POINTS
    ), dtype=torch.float64)
    want = decode_exported(export_decoder(model), torch.tensor(FIXED_POINTS))
    assert got.shape == (len(FIXED_POINTS), 784)
    assert (got - want).abs().max().item() < 1e-4
    assert not page.errors, page.errors
    assert page.requests == [], f"the explorer fetched something: {page.requests}"
    ms = page.evaluate("() => document.getElementById('ex-a').vaeExplorer.timeRedraw(200)")
    print(f"one redraw (decode + paint): {ms:.2f} ms")
    page.close()


def test_drag_and_keys_move_the_point_and_redraw(model: VAE, points, page_factory) -> None:
    page = page_factory(explorer_html(model, *points, element_id="ex-b")
                        + explorer_html(model, *points, element_id="ex-c"))
    before, other = _digit(page, "ex-b"), _digit(page, "ex-c")
    box = page.locator("#ex-b canvas[data-role=pad]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + 0.25 * box["height"], steps=5)
    page.mouse.up()
    z = page.evaluate("() => document.getElementById('ex-b').vaeExplorer.point()")
    assert z[0] == pytest.approx(2.4, abs=0.05) and z[1] == pytest.approx(2.0, abs=0.05)
    assert _digit(page, "ex-b") != before, "dragging did not redraw the digit"
    assert _digit(page, "ex-c") == other, "the second explorer on the page moved too"
    assert "z = (2.40, 2.00)" in page.inner_text("#ex-b [data-role=readout]")
    page.locator("#ex-c canvas[data-role=pad]").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.getElementById('ex-c').vaeExplorer.point()") == [0.05, 0]
    assert not page.errors, page.errors
    page.close()


# Refusals: what the page cannot draw is refused by name, never drawn as garbage ----------------


def test_explorer_refuses_conditional_conv_and_overflowing_models(points) -> None:
    from vae_tutorial.variants import build_model

    for config, reason in (
        (VAEConfig(latent_dim=2, hidden_dims=(16,), n_classes=10), "conditional"),
        (VAEConfig(latent_dim=2, hidden_dims=(8, 16), architecture="conv"), "conv"),
    ):
        with pytest.raises(ValueError, match=f"cannot draw this .*{reason}"):
            explorer_html(build_model(config), *points)
    broken = VAE(VAEConfig(latent_dim=2, hidden_dims=(16,)))
    with torch.no_grad():
        broken.to_logits.weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or infinite"):
        explorer_html(broken, *points)
    with torch.no_grad():
        broken.to_logits.weight[0, 0] = 1e5  # finite in float32, infinite in float16
    with pytest.raises(ValueError, match="beyond float16"):
        explorer_html(broken, *points)
    with pytest.raises(ValueError, match=r"means must be \(N, 2\)"):
        explorer_html(VAE(VAEConfig(latent_dim=2, hidden_dims=(16,))), points[0][:, :1], points[1])


class _Temperature(VAE):
    """A variant that changes only the scoring: what the page would not show."""

    def score_logits(self, z, x, y=None):
        return self.decode(z) / 2.0


def test_explorer_refuses_variants_it_cannot_export_naming_their_class(points) -> None:
    from vae_tutorial.variants import build_model

    small = VAEConfig(latent_dim=2, hidden_dims=(16,))
    with pytest.raises(ValueError, match=r"cannot draw this _Temperature .*overrides score_logits"):
        explorer_html(_Temperature(small), *points)
    normed = VAE(small)
    normed.decoder.append(torch.nn.LayerNorm(16))  # a layer the page does not run
    with pytest.raises(ValueError, match=r"cannot draw this VAE .*decoder holds LayerNorm"):
        explorer_html(normed, *points)
    mixture = build_model(VAEConfig(latent_dim=2, hidden_dims=(16,), prior="mixture",
                                    prior_components=3))  # fmt: skip
    with pytest.raises(ValueError, match="prior is a MixtureOfGaussiansPrior"):
        explorer_html(mixture, *points)
    assert "vae-explorer" in explorer_html(VAE(small), *points)  # the plain VAE is drawn


def _spec_page(page_factory, html: str, edit) -> object:
    """The explorer's page with its JSON spec changed by ``edit(spec) -> text``."""
    found = re.search(r'(<script type="application/json" data-role="spec">)(.*?)(</script>)',
                      html, re.S)  # fmt: skip
    spec = json.loads(found.group(2))
    return page_factory(html[: found.start(2)] + edit(spec) + html[found.end(2) :])


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: json.dumps(s)[:-40], "not valid JSON"),
        (lambda s: json.dumps(s).replace('"extent": 4.0', '"extent": NaN'), "not valid JSON"),
        (lambda s: json.dumps({**s, "layers": [{**s["layers"][0], "weight": "@@@"},
                                               *s["layers"][1:]]}), "not valid base64"),
        (lambda s: json.dumps({**s, "layers": [{**s["layers"][0],
                                                "weight": s["layers"][0]["weight"][:-8]},
                                               *s["layers"][1:]]}), "numbers; its size needs"),
        (lambda s: json.dumps({**s, "layers": [{**s["layers"][0], "in": 3},
                                               *s["layers"][1:]]}), "takes 3 inputs"),
        (lambda s: json.dumps({**s, "layers": [{**s["layers"][0], "activation": "swish"},
                                               *s["layers"][1:]]}), "unknown activation"),
        (lambda s: json.dumps({**s, "layers": [{**s["layers"][0], "bias": base64.b64encode(
            b"\x00\x7c" * s["layers"][0]["out"]).decode()}, *s["layers"][1:]]}),
         "NaN or infinite"),
    ],
    ids=["truncated-json", "bare-nan", "bad-base64", "wrong-length", "wrong-size",
         "unknown-activation", "infinite-weights"],
)  # fmt: skip
def test_bad_data_shows_an_error_on_the_page(model: VAE, points, page_factory, edit, message):
    html = explorer_html(model, *points, element_id="ex-bad")
    page = _spec_page(page_factory, html, edit)
    note = page.locator("#ex-bad .vae-explorer-error")
    assert note.count() == 1, "the page must say why it cannot draw, not only the console"
    assert message in note.inner_text()
    assert page.evaluate("() => document.getElementById('ex-bad').vaeExplorer.error")
    page.close()
