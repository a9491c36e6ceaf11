"""The README's screenshots (docs/img/*.png), taken from the real page: `python -m tests.frontend.readme_shots`.

The app on a free port (tests.frontend.conftest.serve), Debian's Chromium through Playwright at 1280x800, each view
drawn (its `data-state="ready"`) before its picture is taken. Run it after a change that shows on these views.
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

from tests.frontend.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, serve
from tests.frontend.pages import ready

OUT = ROOT / "docs" / "img"
SHOTS = {  # file -> the page's address (its state)
    "attention.png": {"view": "attention"},
    "arithmetic.png": {"view": "arithmetic", "layer": 1, "head": 2},
    "lesson.png": {"lesson": "attention-arithmetic", "step": 2},
}


def take(out: Path = OUT) -> list[Path]:
    made = []
    with serve() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for name, state in SHOTS.items():
            page.goto(f"{url}/?{urlencode(state)}")
            ready(page, 60_000)
            if "lesson" in state:
                page.wait_for_selector('#lesson-panel[data-state="ready"]', timeout=60_000)
            page.wait_for_timeout(500)  # (plotly's transitions)
            page.screenshot(path=str(out / name))
            made.append(out / name)
        browser.close()
    return made


if __name__ == "__main__":
    for path in take(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT):
        print(path)
