"""How fast do chapter 8's explorers answer? ipywidgets callbacks and the JavaScript redraw.

1. ipywidgets (a live kernel): for each explorer, the time from setting a control's value in Python
   to the new PNG bytes in its ``ipywidgets.Image`` (the callback runs synchronously: one decoder
   call plus one PNG encoding), median over 100 changes. Target on a CPU: at most 20 ms.
2. The no-kernel explorer: the generated HTML loaded into headless Chromium, and the time of one
   redraw (decode in JavaScript, paint the digit, mark the pad) measured by the page's own
   ``timeRedraw``, median of 5 runs of 200 redraws. Target: under 5 ms. Skipped without chromium.

Writes ``benchmarks/results/widget_latency.json``. Run:
``python benchmarks/widget_latency.py [--threads 1]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import time
from pathlib import Path

import torch

from vae_tutorial.data import default_data_root, load_mnist
from vae_tutorial.explorer import explorer_html
from vae_tutorial.latent import encode_means
from vae_tutorial.train import load_model, reference_checkpoint
from vae_tutorial.widgets import InterpolationExplorer, LatentSliders

RESULTS = Path(__file__).resolve().parent / "results" / "widget_latency.json"


def time_changes(control, values: list[float]) -> list[float]:
    """Milliseconds from ``control.value = v`` to the new PNG bytes, one per value (the observer
    that decodes and sets the image runs inside the assignment)."""
    times = []
    for value in values:
        start = time.perf_counter()
        control.value = value
        times.append(1000 * (time.perf_counter() - start))
    return times


def summary(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))], 3),
        "max_ms": round(ordered[-1], 3),
        "changes": len(ordered),
    }


def widget_latencies() -> dict[str, dict[str, float]]:
    data = load_mnist(default_data_root(), verbose=False)
    model2 = load_model(reference_checkpoint("mnist_latent2")).eval()
    model20 = load_model(reference_checkpoint("mnist_vae20")).eval()
    means20, _ = encode_means(model20, data.test_images)
    values = torch.linspace(-2.5, 2.5, 101)[1:].tolist()  # 100 distinct changes
    results = {}
    sliders2 = LatentSliders.coordinates(model2)
    results["2-D sliders (784-256-2)"] = summary(
        time_changes(sliders2.sliders[0], values)
    )
    sliders20 = LatentSliders.principal(model20, means20, k=4)
    results["20-D principal sliders (784-400-20)"] = summary(
        time_changes(sliders20.sliders[0], values)
    )
    walker = InterpolationExplorer(model20, data.test_images, data.test_labels)
    results["interpolation t slider (784-400-20, slerp)"] = summary(
        time_changes(walker.t, torch.linspace(0, 1, 101)[1:].tolist())
    )
    return results


def javascript_redraw() -> dict[str, float] | str:
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not chromium:
        return "skipped: no chromium"
    from playwright.sync_api import sync_playwright

    data = load_mnist(default_data_root(), verbose=False)
    model2 = load_model(reference_checkpoint("mnist_latent2")).eval()
    means2, _ = encode_means(model2, data.test_images)
    html = explorer_html(model2, means2, data.test_labels, n_points=2000, element_id="bench")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.set_content(f"<!doctype html><html><body>{html}</body></html>")
        runs = [page.evaluate("() => document.getElementById('bench').vaeExplorer"
                              ".timeRedraw(200)") for _ in range(5)]
        version = browser.version
        browser.close()
    return {"median_ms": round(statistics.median(runs), 3),
            "runs_ms": [round(r, 3) for r in runs], "redraws_per_run": 200,
            "chromium": version, "html_bytes": len(html.encode())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    widgets = widget_latencies()
    for name, row in widgets.items():
        print(f"{name:<45} median {row['median_ms']:6.2f} ms, p90 {row['p90_ms']:6.2f} ms, "
              f"max {row['max_ms']:6.2f} ms  (target: median <= 20 ms)")
    redraw = javascript_redraw()
    if isinstance(redraw, dict):
        print(f"{'JavaScript explorer, one redraw':<45} median {redraw['median_ms']:6.2f} ms"
              f" over {len(redraw['runs_ms'])} runs  (target: < 5 ms)")
    else:
        print(f"JavaScript explorer: {redraw}")
    record = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
        "torch": torch.__version__,
        "torch_threads": args.threads,
        "widget_callback": widgets,
        "javascript_redraw": redraw,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
