"""Fixes for two console errors that the stock Jupyter Book 1 theme logs on every page.

1. ``Identifier 'THEBE_JS_URL' has already been declared``: sphinx-thebe registers its inline
   configuration script once per read phase, and Jupyter Book 1 runs that phase twice, so every page
   declares the same ``const`` twice. We drop exact duplicate script entries from the page context.
2. ``Got invalid theme mode: . Resetting to auto.``: pydata-sphinx-theme writes an empty default
   mode into the page unless ``html_context["default_mode"]`` is set; ``_config.yml`` sets it.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


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


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect(
        "html-page-context", _drop_duplicate_scripts, priority=1000
    )  # after every script is added
    return {"parallel_read_safe": True, "parallel_write_safe": True}
