"""Regenerate the dashboard screenshots in docs/ (the README shows them).

Run: ``.venv/bin/python docs/screenshots.py`` (needs Debian's chromium and chromium-driver:
``bash tests/ui_setup.sh``). Builds the demo project of goldfish-ui's tests in a temporary
directory (two runs of ``goldfish demo``'s pipeline, the second on an edited version), serves
the dashboard from a thread and writes ``docs/ui-run.png`` and ``docs/ui-compare.png``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent / "goldfish-ui" / "tests"))

from goldfish_ui.server import Background  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from ui_support import browser, demo_project  # noqa: E402


def shoot(driver: Any, url: str, out: Path, height: int) -> None:
    driver.set_window_size(1280, height)
    driver.get(url)
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "svg.gf-plot"))
    driver.save_screenshot(str(out))
    print(f"wrote {out.relative_to(DOCS.parent)}")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        project, runs = demo_project(Path(tmp), hostile=False)
        driver = browser()
        try:
            with Background(project) as server:
                base = server.url.rstrip("/")
                shoot(driver, f"{base}/runs/{runs['tuned']}", DOCS / "ui-run.png", 1180)
                shoot(driver, f"{base}/compare?runs={runs['baseline']}&runs={runs['tuned']}",
                      DOCS / "ui-compare.png", 1280)
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
