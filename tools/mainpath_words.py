"""Words a reader meets on a page's main path: markdown outside collapsed asides.

An aside is a markdown cell tagged hide-cell, hide-input, remove-cell, remove-input, hide-output or
dropdown, or the body of a MyST fence whose directive is ``dropdown``/``toggle`` or carries
``:class: dropdown`` (or ``toggle``). Display math (``$$ ... $$``) is not counted. The same rule as
the issues' counter. ``python tools/mainpath_words.py FILE.ipynb|FILE.md ...`` prints
``words<TAB>file`` per file and a total; ``tests/test_book.py`` holds the budgets.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HIDDEN_TAGS = {"hide-cell", "hide-input", "remove-cell", "remove-input", "dropdown", "hide-output"}
FENCE = re.compile(r"^(`{3,}|:{3,})\s*\{([\w:-]+)\}")
CLASS_DROPDOWN = re.compile(r":class:.*\b(dropdown|toggle)\b")


def visible_words(text: str) -> int:
    """The words of MyST ``text`` outside collapsed directives and display math."""
    lines, out = text.splitlines(), []
    stack: list[tuple[str, bool]] = []  # (fence, hidden) of each open directive
    i = 0
    while i < len(lines):
        line = lines[i]
        opened = FENCE.match(line.strip())
        if opened:
            fence, directive = opened.group(1), opened.group(2)
            hidden = directive in ("dropdown", "toggle")
            j = i + 1  # the option lines right after the fence
            while j < len(lines) and lines[j].strip().startswith(":") and not FENCE.match(
                lines[j].strip()
            ):
                hidden = hidden or bool(CLASS_DROPDOWN.search(lines[j]))
                j += 1
            stack.append((fence, hidden or any(h for _, h in stack)))
            i = j
            continue
        if stack and line.strip() == stack[-1][0]:
            stack.pop()
        elif not (stack and stack[-1][1]):
            out.append(line)
        i += 1
    prose = re.sub(r"\$\$.*?\$\$", " ", "\n".join(out), flags=re.S)
    return len(re.findall(r"[A-Za-z][A-Za-z'’-]*", prose))


def file_words(path: str | Path) -> int:
    """Main-path words of a MyST page (``.md``) or of a notebook's markdown cells."""
    path = Path(path)
    if path.suffix == ".md":
        return visible_words(path.read_text(encoding="utf-8"))
    words = 0
    for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "markdown" and not tags & HIDDEN_TAGS:
            words += visible_words("".join(cell["source"]))
    return words


if __name__ == "__main__":
    total = 0
    for name in sys.argv[1:]:
        total += (n := file_words(name))
        print(f"{n}\t{name}")
    print(f"{total}\ttotal")
