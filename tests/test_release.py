"""Releases: every member of the workspace (found in the root pyproject, test plugins left out)
declares complete metadata, takes its version from the one VERSION file, builds a wheel and an
sdist offline, and installs from those wheels alone into fresh environments — core alone, core
with each other member, everything — where `goldfish plugins` lists exactly what is installed,
`goldfish --version` answers and `goldfish demo` runs where it needs no service."""

from __future__ import annotations

import email.parser
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from goldfish.testing.install import (
    build_dists,
    built_wheel,
    fresh_install,
    pinned_dependencies,
    repack_installed,
    workspace_members,
)
from goldfish.testing.projects import GOLDFISH

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = workspace_members(ROOT)
CORE = "goldfish-core"
URL_KEYS = {"Homepage", "Documentation", "Repository", "Changelog", "Issues"}


def version() -> str:
    return (ROOT / "VERSION").read_text().split()[0]


def next_minor(v: str) -> str:
    major, minor = (int(x) for x in v.split(".")[:2])
    return f"{major}.{minor + 1}"


def pyproject(name: str) -> dict:
    return tomllib.loads((MEMBERS[name] / "pyproject.toml").read_text())


def test_members_come_from_the_workspace_without_the_test_plugins() -> None:
    assert {CORE, "goldfish-mcp", "goldfish-svs", "goldfish-reviewers", "goldfish-backend-docker",
            "goldfish-backend-gce", "goldfish-backend-aws", "goldfish-ui"} <= set(MEMBERS)
    assert not any("plugins" in path.parts for path in MEMBERS.values())
    everything = workspace_members(ROOT, released=False)
    assert {"goldfish-example-plugin", "goldfish-broken-plugin"} <= set(everything) - set(MEMBERS)


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_member_declares_complete_release_metadata(name: str) -> None:
    folder, config = MEMBERS[name], pyproject(name)
    project = config["project"]
    # one version source: VERSION at the root, read by hatchling; uv reinstalls when it changes
    assert "version" not in project and project.get("dynamic") == ["version"], name
    assert config["tool"]["hatch"]["version"]["path"] == "../VERSION"
    assert {"file": "../VERSION"} in config["tool"]["uv"]["cache-keys"]
    assert project["description"].strip()
    assert project["readme"] == "README.md"
    readme = (folder / "README.md").read_text()
    assert readme.startswith(f"# {name}\n") and len(readme.splitlines()) >= 10, name
    # the index shows the README away from the repository: links there must be absolute
    assert not re.search(r"\]\((?!https?://|#)", readme), re.findall(r"\]\([^)]*\)", readme)
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert (folder / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes(), (
        f"{folder}/LICENSE differs from the root LICENSE: cp LICENSE {folder.name}/")
    classifiers = project["classifiers"]
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert not any(c.startswith("License ::") for c in classifiers)  # the SPDX expression says it
    assert project["keywords"] and project["authors"]
    urls = project["urls"]
    assert set(urls) == URL_KEYS
    assert urls["Repository"] == pyproject(CORE)["project"]["urls"]["Repository"]
    assert name in urls["Documentation"] or name == CORE
    scripts = project.get("scripts", {})
    plugins = project.get("entry-points", {}).get("goldfish.plugins", {})
    assert ("goldfish" in scripts) if name == CORE else plugins, name
    # members depend on each other within one minor version of the release
    v = version()
    for requirement in project["dependencies"]:
        dep = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        if dep in MEMBERS:
            assert requirement == f"{dep}>={v},<{next_minor(v)}", requirement


def test_every_version_is_the_one_in_the_version_file() -> None:
    import goldfish
    import goldfish_docker

    v = version()
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?", v), v
    assert goldfish.__version__ == v
    assert goldfish_docker.__version__ == v
    assert {name: metadata.version(name) for name in MEMBERS} == dict.fromkeys(MEMBERS, v)
    shown = subprocess.run([GOLDFISH, "--version"], capture_output=True, text=True, timeout=60)
    assert shown.stdout == f"goldfish {v}\n", shown.stderr


def test_the_runtime_copied_into_a_stage_needs_no_version_module(tmp_path: Path) -> None:
    """Backends copy a few core files into a stage, not the build's ``_version.py``: importing
    them stays cheap (no importlib.metadata), and the version is looked up only if asked for."""
    import goldfish
    from goldfish.runs.staging import RUNTIME_FILES

    package = tmp_path / "goldfish"
    package.mkdir()
    for name in RUNTIME_FILES:
        (package / name).write_bytes((Path(goldfish.__file__).parent / name).read_bytes())
    code = ("import sys, goldfish\nfrom goldfish import io\n"
            "print('importlib.metadata' in sys.modules, goldfish.__version__)")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    ran = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path)})
    assert ran.stdout == "False 0+unknown\n", ran.stderr


def test_the_changelog_has_unreleased_and_the_current_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "Keep a Changelog" in changelog
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, flags=re.MULTILINE)
    assert headings[:2] == ["Unreleased", version()], headings
    readme = (ROOT / "README.md").read_text()
    assert "## Releases" in readme and "CHANGELOG.md" in readme and "VERSION" in readme


# --- tools/release.py: cutting a version ---------------------------------------------------------


def _release(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "release.py"), "--root",
                           str(root), *args], capture_output=True, text=True, timeout=120)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files a cut reads or changes, copied: VERSION, CHANGELOG.md, README.md, docs/*.md,
    the root's and every member's pyproject."""
    for rel in ("pyproject.toml", "VERSION", "CHANGELOG.md", "README.md",
                *(str(doc.relative_to(ROOT)) for doc in (ROOT / "docs").glob("*.md")),
                *(str((folder / "pyproject.toml").relative_to(ROOT))
                  for folder in workspace_members(ROOT, released=False).values())):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((ROOT / rel).read_bytes())
    return tmp_path


def test_cut_moves_every_member_and_the_changelog_to_the_new_version(repo_copy: Path) -> None:
    old = version()
    major, minor = (int(x) for x in old.split(".")[:2])
    new = f"{major}.{minor + 1}.0"
    done = _release(repo_copy, "cut", new)
    assert done.returncode == 0, done.stderr
    assert (repo_copy / "VERSION").read_text() == f"{new}\n"
    members = workspace_members(repo_copy)
    for name, folder in members.items():
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        assert project["name"] == name
        for requirement in project["dependencies"]:
            dep = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
            if dep in members:
                assert requirement == f"{dep}>={new},<{next_minor(new)}", requirement
    # test plugins keep their own versions, and their pins follow (the workspace must resolve)
    example = repo_copy / "tests" / "plugins" / "goldfish-example-plugin" / "pyproject.toml"
    project = tomllib.loads(example.read_text())["project"]
    assert project["dependencies"] == [f"goldfish-core>={new},<{next_minor(new)}"]
    assert project["version"] == tomllib.loads(
        (ROOT / example.relative_to(repo_copy)).read_text())["project"]["version"]
    tutorial = (repo_copy / "docs" / "plugins.md").read_text()
    assert f'dependencies = ["goldfish-core>={new},<{next_minor(new)}"]' in tutorial
    assert f"`goldfish-core>={old}," not in tutorial
    readme = (repo_copy / "README.md").read_text()  # the Releases section quotes the pin too
    assert f"`goldfish-core>={new},<{next_minor(new)}`" in readme
    assert f"`goldfish-core>={old}," not in readme
    changelog = (repo_copy / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## \[([^\]]+)\]( - \d{4}-\d\d-\d\d)?", changelog, re.MULTILINE)
    assert [h[0] for h in headings[:3]] == ["Unreleased", new, old] and headings[1][1]
    assert f"[Unreleased]: https://github.com/goldfish-ml/goldfish/compare/v{new}...HEAD" in changelog
    assert f"[{new}]: https://github.com/goldfish-ml/goldfish/compare/v{old}...v{new}" in changelog
    checked = _release(repo_copy, "check", f"v{new}")
    assert (checked.returncode, checked.stdout) == (0, f"releasing {new}\n"), checked.stderr


@pytest.mark.parametrize(("args", "says"), [
    (("cut", "0.0.1"), "is not newer than the current version"),
    (("cut", "v2"), "'v2' is not MAJOR.MINOR.PATCH"),
    (("check", "v9.9.9"), "tag 'v9.9.9' does not match VERSION"),
    (("build",), "already holds 1 built files"),  # dist/ keeps an earlier build's wheel
])
def test_release_tool_refuses_with_a_message_and_writes_nothing(repo_copy: Path,
                                                                args: tuple[str, ...],
                                                                says: str) -> None:
    (repo_copy / "dist").mkdir()
    (repo_copy / "dist" / "goldfish_core-0.0.1-py3-none-any.whl").write_bytes(b"earlier")
    before = {p: p.read_bytes() for p in repo_copy.rglob("*") if p.is_file()}
    done = _release(repo_copy, *args)
    assert done.returncode == 2 and says in done.stderr and "hint: " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert {p: p.read_bytes() for p in repo_copy.rglob("*") if p.is_file()} == before


# --- built and installed ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every member's sdist and the wheel built from it, once per session, offline."""
    return build_dists(ROOT, tmp_path_factory.mktemp("release") / "dist")


def _metadata(wheel: Path) -> tuple[email.message.Message, zipfile.ZipFile]:
    archive = zipfile.ZipFile(wheel)
    info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    return email.parser.Parser().parsestr(archive.read(info).decode()), archive


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_member_builds_a_wheel_and_an_sdist_with_complete_metadata(name: str,
                                                                   dists: Path) -> None:
    v, license_text = version(), (ROOT / "LICENSE").read_bytes()
    folder, project = MEMBERS[name], pyproject(name)["project"]
    meta, wheel = _metadata(built_wheel(dists, name))
    with wheel:
        assert (meta["Name"], meta["Version"]) == (name, v)
        assert meta["Summary"] == project["description"]
        assert meta["Description-Content-Type"] == "text/markdown"
        assert str(meta.get_payload()).strip() == (folder / "README.md").read_text().strip()
        assert meta["License-Expression"] == "Apache-2.0"
        assert meta.get_all("License-File") == ["LICENSE"]
        assert meta["Requires-Python"] == ">=3.11"
        assert set(meta.get_all("Classifier") or []) == set(project["classifiers"])
        assert {u.split(",")[0] for u in meta.get_all("Project-URL") or []} == URL_KEYS
        assert set(meta.get_all("Provides-Extra") or []) == set(
            project.get("optional-dependencies", {}))
        requires = meta.get_all("Requires-Dist") or []
        if name != CORE:
            assert f"goldfish-core<{next_minor(v)},>={v}" in requires, requires
        dist_info = f"{name.replace('-', '_')}-{v}.dist-info"
        assert wheel.read(f"{dist_info}/licenses/LICENSE") == license_text
        entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
        assert ("[console_scripts]\ngoldfish = goldfish.cli:main" in entry_points if name == CORE
                else "[goldfish.plugins]" in entry_points)
        if name == CORE:
            assert f'__version__ = "{v}"' in wheel.read("goldfish/_version.py").decode()
    stem = f"{name.replace('-', '_')}-{v}"
    with tarfile.open(dists / f"{stem}.tar.gz") as sdist:
        files = set(sdist.getnames())
        assert {f"{stem}/{f}" for f in ("LICENSE", "README.md", "PKG-INFO",
                                        "pyproject.toml")} <= files
        license_file = sdist.extractfile(f"{stem}/LICENSE")
        assert license_file is not None and license_file.read() == license_text


OTHERS = tuple(sorted(set(MEMBERS) - {CORE}))
#: The demo's run needs no service with these next to the core; numpy comes with the demo extra.
DEMO_WITH = {"goldfish-svs", "goldfish-reviewers"}
MATRIX = [(f"{CORE}[demo]",),
          *((f"{CORE}[demo]" if m in DEMO_WITH else CORE, m) for m in OTHERS),
          (f"{CORE}[demo]", *OTHERS)]


def _rows(text: str) -> list[tuple[str, str, str, str]]:
    """(plugin, version, kind, distribution) of each row of `goldfish plugins`."""
    rows = []
    for line in text.splitlines():
        match = re.match(r"^(\S+)\s+(\S+)\s+(builtin|plugin|ERROR)\s+(.*)$", line)
        if match:
            rows.append((match[1], match[2], match[3], match[4].strip()))
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("members", MATRIX, ids=["+".join(m) for m in MATRIX])
def test_members_install_from_the_built_wheels_alone(members: tuple[str, ...], dists: Path,
                                                     tmp_path: Path) -> None:
    v = version()
    install = fresh_install(tmp_path, ROOT, members, dists=dists)
    wanted = {re.sub(r"\[.*\]", "", m) for m in members}
    assert wanted <= install.names and install.others(members) == set(), install.others(members)
    env = {**install.env, "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def goldfish(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(install.goldfish), *args], capture_output=True, text=True,
                              timeout=300, cwd=tmp_path, env=env)

    shown = goldfish("--version")
    assert (shown.returncode, shown.stdout) == (0, f"goldfish {v}\n"), shown.stderr
    listed = goldfish("plugins")
    assert listed.returncode == 0, listed.stderr
    rows = _rows(listed.stdout)
    assert [r for r in rows if r[2] == "ERROR"] == []
    assert {r[3] for r in rows} == wanted, listed.stdout
    assert {r[1] for r in rows} == {v}, listed.stdout
    if members[0].endswith("[demo]") or "goldfish-svs" in wanted:
        assert "numpy" in install.names  # the extra, or svs's own dependency, brings it
    # the demo runs wherever numpy is; elsewhere (docker, gce) it says how to get it
    demo = goldfish("demo")
    if "numpy" in install.names:
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert re.search(r"^run r-\S+ done$", demo.stdout, flags=re.MULTILINE), demo.stdout
        assert "accuracy: " in demo.stdout
    else:  # numpy did not come along: the demo says which extra brings it
        assert demo.returncode != 0 and "Traceback" not in demo.stderr, demo.stderr
        assert "goldfish-core[demo]" in demo.stderr


@pytest.mark.slow
def test_pip_installs_the_core_wheel_offline_from_a_local_wheelhouse(dists: Path,
                                                                     tmp_path: Path) -> None:
    """Plain pip (the one `python -m venv` brings), no index: our wheel's metadata must satisfy
    pip's own resolver, with the core's dependencies from a wheelhouse next to it."""
    house = tmp_path / "wheelhouse"
    repack_installed(pinned_dependencies(ROOT, [CORE]), house)
    (house / built_wheel(dists, CORE).name).write_bytes(built_wheel(dists, CORE).read_bytes())
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True,
                   capture_output=True, timeout=300)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "UV_", "GOLDFISH_")) and k not in ("VIRTUAL_ENV",
                                                                            "PYTHONPATH")}
    env |= {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--isolated",
                          "--no-index", "--find-links", str(house), "--no-cache-dir",
                          "--disable-pip-version-check", CORE], capture_output=True, text=True,
                         timeout=600, env=env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    assert "Successfully installed" in pip.stdout and f"{CORE}-{version()}" in pip.stdout
    shown = subprocess.run([str(venv / "bin" / "goldfish"), "--version"], capture_output=True,
                           text=True, timeout=120, env=env, cwd=tmp_path)
    assert shown.stdout == f"goldfish {version()}\n", shown.stderr
    listed = subprocess.run([str(venv / "bin" / "goldfish"), "plugins"], capture_output=True,
                            text=True, timeout=120, env=env, cwd=tmp_path)
    assert listed.returncode == 0 and {r[3] for r in _rows(listed.stdout)} == {CORE}, (
        listed.stdout + listed.stderr)
