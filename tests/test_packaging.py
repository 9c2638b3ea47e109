"""What gets installed is one package, ``trialbook``, that works away from the repository (#13).

The wheel is built with pip from a copy of the project's files (``git ls-files``,
tracked and not ignored), so the build leaves no ``build/`` or ``*.egg-info`` in
the checkout. It is then installed into a new virtual environment the way a user
installs it: pip resolves and installs its declared dependencies from the
machine's configured index, so a dependency missing from ``pyproject.toml``
fails here. That needs the index, as CI's own ``pip install -e '.[test]'`` does
minutes earlier on the same machine (which is also why pip's cache is warm and
the install takes about 15 s on 2 cores). The venv is made ``--without-pip`` and
filled by this interpreter's pip (``pip --python``, pip >= 22.3), and installs
skip byte-compiling: ~10 s less, and nothing tested depends on either.

Every run of the installed package starts in a temporary directory outside the
repository with no ``PYTHONPATH``, so only the installed files can answer an
import. The editable install the tests run from must answer from the checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
# the folders at the repository root that pyproject.toml maps to trialbook.<name>
SUBPACKAGES = ("domain", "store", "projections", "ledger", "plain", "runners", "shell")
DIST_INFO = re.compile(r"trialbook-[^/]+\.dist-info/")


def project_files() -> list[str]:
    """The repository's files as git sees them (tracked, or new and not ignored)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [p for p in out.split("\0") if p and (ROOT / p).is_file()]


def installed_modules() -> list[str]:
    """Where each of the project's Python modules lands in the wheel (``plain/ab.py`` is
    ``trialbook/plain/ab.py``); tests, benchmarks and docs land nowhere."""
    return [
        p if p.startswith("trialbook/") else f"trialbook/{p}"
        for p in project_files()
        if p.endswith(".py") and p.split("/", 1)[0] in ("trialbook", *SUBPACKAGES)
    ]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python at other code."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "TRIALBOOK_DB")
    }
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in project_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, src / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
        check=True,
        capture_output=True,
        env=clean_env(),
    )
    (built,) = dist.glob("trialbook-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel and its dependencies installed; returns its bin/ directory."""
    home = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True)
    python = home / "bin" / "python"
    r = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile"]
        + [str(wheel)],
        capture_output=True,
        text=True,
        env=clean_env(),
    )
    assert r.returncode == 0, r.stdout + r.stderr
    return home / "bin"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory that is not in the repository."""
    assert ROOT not in tmp_path.parents
    return tmp_path


def run_in(cwd: Path, bin_dir: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}" if bin_dir else os.environ["PATH"]
    return subprocess.run(
        list(args), cwd=cwd, capture_output=True, text=True, env=clean_env(PATH=path), timeout=120
    )


@pytest.fixture
def names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        return z.namelist()


class TestTheWheel:
    def test_holds_only_the_trialbook_package_and_its_metadata(self, names: list[str]) -> None:
        strays = [n for n in names if not (n.startswith("trialbook/") or DIST_INFO.match(n))]
        assert strays == []

    def test_holds_every_module_of_the_repository_under_trialbook(self, names: list[str]) -> None:
        assert sorted(set(installed_modules()) - set(names)) == []

    def test_holds_the_typed_marker_stats_plain_and_commands(self, names: list[str]) -> None:
        assert "trialbook/py.typed" in names
        for folder in ("trialbook/domain/stats", "trialbook/plain", "trialbook/shell/commands"):
            in_wheel = sorted(n for n in names if n.rsplit("/", 1)[0] == folder)
            expected = sorted(m for m in installed_modules() if m.rsplit("/", 1)[0] == folder)
            assert f"{folder}/__init__.py" in expected
            assert in_wheel == expected

    def test_declares_the_trialbook_console_script(self, wheel: Path, names: list[str]) -> None:
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        with zipfile.ZipFile(wheel) as z:
            text = z.read(entry_points).decode()
        assert "trialbook = trialbook.shell.cli:main" in text


class TestTheInstalledWheel:
    def test_imports_from_its_own_site_packages(self, venv: Path, outside: Path) -> None:
        r = run_in(
            outside,
            None,
            str(venv / "python"),
            "-c",
            "import trialbook, trialbook.domain.ab; print(trialbook.open); "
            "print(trialbook.__file__); print(trialbook.domain.ab.__file__)",
        )
        assert r.returncode == 0, r.stderr
        opened, package, module = r.stdout.splitlines()
        assert opened.startswith("<function open at ")
        site = venv.parent / "lib"
        assert site in Path(package).parents and site in Path(module).parents

    def test_python_m_trialbook_shows_the_help(self, venv: Path, outside: Path) -> None:
        r = run_in(outside, None, str(venv / "python"), "-m", "trialbook", "--help")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Usage: trialbook ")
        assert "demo" in r.stdout

    def test_the_console_script_shows_the_help(self, venv: Path, outside: Path) -> None:
        r = run_in(outside, venv, "trialbook", "--help")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Usage: trialbook ")
        assert "demo" in r.stdout and "ab" in r.stdout

    def test_the_demo_runs(self, venv: Path, outside: Path) -> None:
        db = outside / "d.db"
        r = run_in(outside, venv, "trialbook", "--db", str(db), "demo")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        assert r.stderr == ""
        assert "Recommendation:" in r.stdout
        assert db.exists()

    @pytest.mark.parametrize("name", SUBPACKAGES)
    def test_installs_no_top_level_package_but_trialbook(
        self, venv: Path, outside: Path, name: str
    ) -> None:
        r = run_in(outside, None, str(venv / "python"), "-c", f"import {name}")
        assert r.returncode == 1
        assert f"ModuleNotFoundError: No module named '{name}'" in r.stderr


class TestTheEditableInstall:
    def test_imports_the_subpackages_from_the_checkout(self, outside: Path) -> None:
        r = run_in(
            outside,
            None,
            sys.executable,
            "-c",
            "import trialbook.domain.ab as m; print(m.__file__)",
        )
        assert r.returncode == 0, r.stderr
        assert Path(r.stdout.strip()) == ROOT / "domain" / "ab.py", "not the editable install?"

    @pytest.mark.parametrize("name", ("shell", "domain"))
    def test_exposes_no_top_level_package_but_trialbook(self, outside: Path, name: str) -> None:
        r = run_in(outside, None, sys.executable, "-c", f"import {name}")
        assert r.returncode == 1
        assert f"ModuleNotFoundError: No module named '{name}'" in r.stderr
