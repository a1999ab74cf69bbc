"""Screenshot of a `rnnlab viz cells` page in a real (headless) Chromium, for the README.

    python docs/screenshot_cells.py runs/viz-linux/cells.html docs/viz-cells.png \
        --unit 1:c:42 --hover 400

Drives Debian's Chromium (/usr/bin/chromium; apt-get install chromium) through playwright,
which never downloads a browser here. ``--unit LAYER:QUANTITY:UNIT`` selects what the page
colours (as its selectors would); ``--hover N`` hovers character N to show the prediction
tooltip. Fails with a clear message (exit 2) when the page shows a console error.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("page", type=Path, help="cells.html written by `rnnlab viz cells`")
    parser.add_argument("png", type=Path, help="the screenshot to write")
    parser.add_argument("--unit", default=None, help="LAYER:QUANTITY:UNIT to colour by")
    parser.add_argument("--hover", type=int, default=None, help="character to hover")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=760)
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        parser.error("needs playwright (pip install playwright; it drives the system Chromium)")
    exe = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if exe is None:
        parser.error("needs Chromium: apt-get install chromium")
    if not args.page.is_file():
        parser.error(f"no such page: {args.page}")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=ARGS)
        tab = browser.new_page(viewport={"width": args.width, "height": args.height})
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.goto(args.page.resolve().as_uri())
        tab.wait_for_selector("#text span")
        if args.unit:
            layer, quantity, unit = args.unit.split(":")
            tab.select_option("#layer", layer)
            tab.select_option("#quantity", quantity)
            tab.fill("#unit", unit)
            tab.dispatch_event("#unit", "change")
        if args.hover is not None:
            tab.hover(f"#text span >> nth={args.hover}")
        args.png.parent.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(args.png))
        browser.close()
    if errors:
        print("the page reported errors: " + "; ".join(errors), file=sys.stderr)
        return 2
    print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
