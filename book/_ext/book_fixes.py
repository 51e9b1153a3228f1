"""Fixes for two console errors that the stock Jupyter Book 1 theme logs on every page, and
ipywidgets served from the site itself.

1. ``Identifier 'THEBE_JS_URL' has already been declared``: sphinx-thebe registers its inline
   configuration script once per read phase, and Jupyter Book 1 runs that phase twice, so every page
   declares the same ``const`` twice. We drop exact duplicate script entries from the page context.
2. ``Got invalid theme mode: . Resetting to auto.``: pydata-sphinx-theme writes an empty default
   mode into the page unless ``html_context["default_mode"]`` is set; ``_config.yml`` sets it.

Widgets: pages whose notebook saved widget state (a tqdm bar, the explorers) need the
``@jupyter-widgets/html-manager`` bundle, which myst-nb loads from a CDN by default. ``_config.yml``
points ``nb_ipywidgets_js`` at ``_static/jupyter-widgets/embed.js``, and this extension copies the
vendored bundle (``book/_vendor/jupyter-widgets``, see its README) there after the build. It is not
in ``html_static_path`` because Jupyter Book 1 would then load it on every page.

Style: ``static/book.css`` (a stylesheet, no scripts) fits 100-column code to the page and wraps
long lines of printed output, as Jupyter does.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from sphinx.application import Sphinx

HERE = Path(__file__).resolve().parent
WIDGETS = HERE.parent / "_vendor" / "jupyter-widgets"


def _drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree
) -> None:
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        attributes = getattr(script, "attributes", {})
        key = (str(getattr(script, "filename", script) or ""), repr(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def _copy_widget_bundle(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        target = Path(app.outdir) / "_static" / "jupyter-widgets"
        shutil.copytree(WIDGETS, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.md"))


def _add_stylesheet(app: Sphinx, config: Any) -> None:
    config.html_static_path.append(str(HERE / "static"))


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _add_stylesheet)
    app.add_css_file("book.css")
    app.connect("build-finished", _copy_widget_bundle)
    app.connect(
        "html-page-context", _drop_duplicate_scripts, priority=1000
    )  # after every script is added
    return {"parallel_read_safe": True, "parallel_write_safe": True}
