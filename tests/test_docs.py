"""The documentation matches the CLI: every README command runs, every command has help."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from trialbook.shell.cli import cli

README = (Path(__file__).parent.parent / "README.md").read_text()


def all_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    ctx = click.Context(group)
    out = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        assert cmd is not None
        out.append((*prefix, name))
        if isinstance(cmd, click.Group):
            out.extend(all_commands(cmd, (*prefix, name)))
    return out


def documented_command_paths() -> set[tuple[str, ...]]:
    """Command paths of every `trialbook …` line in the README's code blocks."""
    known = set(all_commands())
    paths = set()
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            line = line.strip().removeprefix("$ ")
            m = re.search(r"(?:^|[|&;] *|\.venv/bin/)trialbook\b(.*)", line)
            if not m:
                continue
            words = [w for w in shlex.split(m.group(1).split("#")[0].replace("\\", "")) if w]
            # skip the global option and its value
            while words and words[0].startswith("--"):
                words = words[2:] if words[0] == "--db" else words[1:]
            path: tuple[str, ...] = ()
            for w in words:
                if (*path, w) in known:
                    path = (*path, w)
                else:
                    break
            paths.add(path)
    return paths


def test_the_readme_documents_commands() -> None:
    paths = documented_command_paths()
    assert ("ab", "add-result") in paths and ("demo",) in paths and () in paths


@pytest.mark.parametrize(
    "path", sorted(documented_command_paths()), ids=lambda p: " ".join(p) or "trialbook"
)
def test_help_of_every_documented_command_runs(path: tuple[str, ...]) -> None:
    r = CliRunner().invoke(cli, [*path, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage: " in r.output


@pytest.mark.parametrize("path", all_commands(), ids=" ".join)
def test_every_command_has_help_text_and_is_in_the_readme(path: tuple[str, ...]) -> None:
    ctx = click.Context(cli)
    cmd: click.Command | None = cli
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.get_command(ctx, name)
    assert cmd is not None and cmd.help and len(cmd.help.strip()) > 10
    assert "trialbook " + " ".join(path) in README, (
        f"`trialbook {' '.join(path)}` is not documented in README.md"
    )


def test_the_quick_start_commands_are_the_ones_ci_runs() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    test_command = ci.strip().splitlines()[-1]
    assert test_command in README


def test_ci_runs_exactly_the_readmes_test_command_and_it_runs_every_check() -> None:
    root = Path(__file__).parent.parent
    ci = (root / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```bash\n{ci}\n```" in README
    check = (root / "scripts" / "check").read_text()
    for step in ('ruff" check .', 'ruff" format --check .', 'mypy"', 'pytest" "$@"'):
        assert step in check, step


def test_help_shows_what_a_command_takes_where_its_usage_says_so() -> None:
    """A newcomer reading only --help (#24, the seventh): `audit --help` listed no --json though
    its usage line has it, and `eval run --help` showed SUITE as required while its own example
    leaves it out for a --config."""
    runner = CliRunner()
    audit = runner.invoke(cli, ["audit", "--help"]).output
    assert "Options of `audit NAME`" in audit and "--json" in audit.split("Options of")[-1]
    run = runner.invoke(cli, ["eval", "run", "--help"]).output
    assert "[OPTIONS] [SUITE]" in run and "--config file names them" in run
    for line in [x for x in run.splitlines() if x.strip().startswith("trialbook eval run")]:
        argv = shlex.split(line.replace("\\", ""))[3:]
        suite_given = bool(argv) and not argv[0].startswith("-")
        assert suite_given or "--config" in argv, line
