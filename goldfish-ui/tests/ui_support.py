"""Helpers for goldfish-ui's tests: a demo project with a few real runs, a browser, snapshots.

Also used by ``docs/screenshots.py``. Everything is real: runs go through the engine, the
dashboard is served by uvicorn in a thread, Debian's chromium is driven through its chromedriver.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from goldfish.demo import RESULTS, WORKSPACE, create_demo
from goldfish.project import Project
from goldfish.runs.engine import Engine
from goldfish.testing.projects import update_config, write_files
from goldfish.workspaces import Workspaces

REPO = Path(__file__).resolve().parents[2]
SECRET = "gf-ui-secret-7c1d9e04b2"
HOSTILE = "<script>window.__pwned = 1</script><b>bold</b>"
ARTIFACTS = Path(os.environ.get("GOLDFISH_UI_ARTIFACTS") or Path(__file__).parent / "artifacts")

#: A stage that logs a loss slowly (one point every ``pause`` seconds), for the live pages.
SLOW = {
    "pipeline.yaml": """
        name: slow
        results: {metric: loss, direction: min}
        stages:
          - name: train
            outputs: {model: {type: json}}
            config: {steps: 60, pause: 0.25}
    """,
    "modules/train.py": """
        import math, time
        from goldfish import io
        cfg = io.config()
        for step in range(cfg["steps"]):
            io.log_metric("loss", 2.0 * math.exp(-step / 15) + 0.05, step=step)
            io.flush()
            print("step", step, flush=True)
            time.sleep(cfg["pause"])
        io.save_output("model", {"steps": cfg["steps"]})
    """,
}

#: A stage on a profile whose env holds a secret; it logs a NaN (a blocking finding) and fails.
BROKEN = {
    "pipeline.yaml": """
        name: broken
        stages:
          - name: fit
            profile: secretive
            outputs: {model: {type: json}}
    """,
    "modules/fit.py": """
        import os, time
        from goldfish import io
        assert os.environ.get("GF_UI_TOKEN"), "the profile's env reaches the stage"
        io.log_metric("loss", 1.0, step=0)
        io.log_metric("loss", float("nan"), step=1)
        io.flush()
        for _ in range(100):  # the metric check sees the NaN and stops the stage
            if io.should_stop():
                break
            time.sleep(0.1)
        raise RuntimeError("diverged at step 1")
    """,
}


def add_workspace(project: Project, name: str, files: dict[str, str], tmp: Path,
                  goal: str = "") -> str:
    src = tmp / f"src-{name}"
    write_files(src, files)
    info = Workspaces(project).create(name, from_dir=src, goal=goal, mount="")
    assert info.slot, f"no free slot for {name}"
    return info.slot


def demo_project(root: Path, *, hostile: bool = True) -> tuple[Project, dict[str, str]]:
    """The demo project with: a baseline run, a second run on an edited version (a config and
    code diff), a failed run with a blocking finding on a profile that carries a secret, and the
    ``slow`` workspace ready to run. With ``hostile``, the first run's reason carries markup
    (:data:`HOSTILE`) that no page may render. Returns the project and the run ids by role."""
    project = create_demo(root / "demo")
    update_config(project, profiles={"secretive": {"backend": "local",
                                                   "env": {"GF_UI_TOKEN": SECRET}}})
    engine = Engine(project)
    runs = {"baseline": engine.run(WORKSPACE, reason="baseline" + (f" {HOSTILE}" if hostile else ""),
                                   hypothesis="a linear model separates the glyphs",
                                   results=RESULTS, wait=True)}
    train = project.slot_path("w1") / "configs" / "train.yaml"
    train.write_text(train.read_text(encoding="utf-8") + "lr: 0.2\n", encoding="utf-8")
    runs["tuned"] = engine.run(WORKSPACE, reason="lower learning rate",
                               hypothesis="a smaller step converges more smoothly",
                               results=RESULTS, wait=True)
    add_workspace(project, "broken", BROKEN, root, goal="show a failure")
    runs["broken"] = engine.run("broken", reason="a run that diverges", wait=True)
    add_workspace(project, "slow", SLOW, root, goal="a slow curve")
    return project, runs


def project_state(project: Project) -> str:
    """A digest of what a read-only viewer must not change: the database's rows, STATE.md,
    goldfish.yaml, the slots' files and the version repository's refs (caches excluded)."""
    h = hashlib.sha256()
    conn = sqlite3.connect(f"file:{project.db_path}?mode=ro", uri=True)
    try:
        for line in conn.iterdump():
            h.update(line.encode())
    finally:
        conn.close()
    for path in sorted([project.state_path, project.config_path,
                        *project.slots_dir.rglob("*"), *project.repo_path.rglob("refs/**/*")]):
        if path.is_file():
            h.update(str(path.relative_to(project.root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def ensure_chromium() -> tuple[str, str]:
    """Debian's chromium and chromedriver; installs them (tests/ui_setup.sh) when missing."""
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        subprocess.run(["bash", str(REPO / "tests" / "ui_setup.sh")], check=True)
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromedriver are needed: run tests/ui_setup.sh"
    return chromium, driver


def browser(width: int = 1280, height: int = 1000) -> Any:
    """Headless chromium through the system chromedriver (selenium downloads nothing)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--hide-scrollbars",
                "--disable-background-networking", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def screenshot(driver: Any, name: str, full: bool = True) -> Path:
    """A PNG of the page (its whole height) under :data:`ARTIFACTS`."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    if full:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        width = driver.execute_script("return document.documentElement.scrollWidth")
        driver.set_window_size(max(1280, width), min(max(800, height + 40), 6000))
    driver.save_screenshot(str(path))
    return path


def pixel_spread(path: Path) -> float:
    """Standard deviation of the grey levels: about 0 for a blank (one-colour) image."""
    from PIL import Image, ImageStat

    with Image.open(path) as image:
        return float(ImageStat.Stat(image.convert("L")).stddev[0])
