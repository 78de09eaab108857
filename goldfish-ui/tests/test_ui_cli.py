"""``goldfish ui`` as a user runs it: loopback by default with its address printed, a non-loopback
bind only with --allow-remote (and a warning), a browser only with --open, a busy port named, and
the command's absence explained when goldfish-ui is not loaded."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from goldfish.project import Project
from goldfish.testing.projects import GOLDFISH

Demo = tuple[Project, dict[str, str]]


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("GOLDFISH_")}
    out.update(extra)
    return out


@contextmanager
def ui(project: Project, *args: str, **extra: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([GOLDFISH, "ui", "--project", str(project.root), "--port", "0",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(**extra))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"(http://[^ ]+/)$", line.strip())
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        yield proc, match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=20) as r:
        return r.read().decode("utf-8")


def test_serves_on_loopback_and_prints_its_address(demo: Demo) -> None:
    project, _ = demo
    with ui(project) as (proc, url):
        assert url.startswith("http://127.0.0.1:")
        assert "goldfish-demo" in fetch(url)
    assert proc.returncode == 0
    assert proc.stderr is not None
    assert "warning" not in proc.stderr.read()


def test_a_non_loopback_address_needs_allow_remote(demo: Demo) -> None:
    project, _ = demo
    result = subprocess.run([GOLDFISH, "ui", "--project", str(project.root), "--host", "0.0.0.0",
                             "--port", "0"], capture_output=True, text=True, env=env(),
                            timeout=60)
    assert result.returncode == 2
    assert "--host 0.0.0.0 would serve the project to other machines" in result.stderr
    assert "--allow-remote" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_allow_remote_binds_and_warns(demo: Demo) -> None:
    project, _ = demo
    with ui(project, "--host", "0.0.0.0", "--allow-remote") as (proc, url):
        port = url.rsplit(":", 1)[1].rstrip("/")
        assert url.startswith("http://0.0.0.0:")
        assert "goldfish-demo" in fetch(f"http://127.0.0.1:{port}/")
    assert proc.stderr is not None
    assert "not a loopback address: anyone who can reach this port" in proc.stderr.read()


def test_a_browser_opens_only_with_open(demo: Demo, tmp_path: Path) -> None:
    project, _ = demo
    opened = tmp_path / "opened"
    fake = tmp_path / "fake-browser"
    fake.write_text(f"#!/bin/sh\necho \"$1\" >> {opened}\n")
    fake.chmod(0o755)
    with ui(project, BROWSER=str(fake)) as (_, url):
        fetch(url)
        time.sleep(1.5)  # --open would have fired after 0.5 s
    assert not opened.exists()
    with ui(project, "--open", BROWSER=str(fake)) as (_, url):
        deadline = time.monotonic() + 20
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert opened.read_text().strip() == url


def test_a_busy_port_is_named(demo: Demo) -> None:
    project, _ = demo
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run([GOLDFISH, "ui", "--project", str(project.root), "--port",
                                 str(port)], capture_output=True, text=True, env=env(),
                                timeout=60)
    assert result.returncode == 2  # a Goldfish error, not a crash
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "hint: pick another port with --port" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_goldfish_ui_the_command_says_what_to_install(tmp_path: Path) -> None:
    result = subprocess.run([GOLDFISH, "ui"], capture_output=True, text=True, cwd=tmp_path,
                            env=env(GOLDFISH_LOAD_PLUGINS=""), timeout=60)
    assert result.returncode == 2
    assert "`goldfish ui` comes with goldfish-ui, which is not installed" in result.stderr
    assert "install it" in result.stderr and "invalid choice" not in result.stderr


def test_the_cli_does_not_import_the_web_stack() -> None:
    code = ("import sys; from goldfish.cli import build_parser; "
            "print(build_parser().parse_args(['ui']).handler.__module__); "
            "print(sorted(m for m in ('starlette', 'uvicorn', 'jinja2', 'markdown_it') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["goldfish_ui.plugin", "[]"]  # registered, nothing imported
