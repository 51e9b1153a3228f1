"""Seconds each chapter took under nbval, from pytest's JUnit XML: ``python tools/chapter_times.py
_build/nbval-junit.xml``. The instructor guide's time column comes from this table."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def chapter_seconds(junit_xml: Path) -> dict[str, float]:
    """Total test time per notebook: nbval makes one test case per code cell."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        found = re.search(r"(\d\d_[A-Za-z0-9_]+)\.ipynb", case.get("classname", ""))
        if found:  # e.g. classname "chapters.05_building_the_vae.ipynb"
            totals[found.group(1)] += float(case.get("time", 0.0))
    return dict(sorted(totals.items()))


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_file():
        print("usage: python tools/chapter_times.py _build/nbval-junit.xml", file=sys.stderr)
        return 2
    totals = chapter_seconds(Path(argv[0]))
    print("nbval seconds per chapter:")
    for name, seconds in totals.items():
        print(f"  {name:<40} {seconds:7.1f}")
    print(f"  {'total':<40} {sum(totals.values()):7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
