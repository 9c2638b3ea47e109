"""Writes acknowledged in one process survive what other processes do to the same file.

The trap (SQLite's "How To Corrupt An SQLite Database File", section 2.2): POSIX advisory
locks belong to a process, and closing *any* descriptor on a file drops all of that
process's locks on it. A process that opens and closes a raw descriptor on a database it
already has a connection to looks, to every other process, as if it held no lock; the next
one to close its connection then checkpoints and deletes the WAL the first is still
writing into. These tests drive the real shell in a pseudo-terminal while other processes
write, and count what a fresh connection finds afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import Invoke, count_events
from tests.test_shell_pty import ROOT, spawn


def outside_write(db: Path, session: str) -> None:
    """One ``trialbook ab add-result`` in a process of its own, like another terminal."""
    done = subprocess.run(
        [sys.executable, "-m", "trialbook", "--db", str(db), "ab", "add-result", "r",
         "--variant", "b", "--session-id", session, "--success"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def sessions(db: Path) -> list[str]:
    """The session ids of the recorded results, read with a fresh connection."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT json_extract(data, '$.session_id') FROM events "
            "WHERE type = 'ResultAdded' ORDER BY position"
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def shell_add(child: pexpect.spawn, session: str) -> None:
    child.send(f"ab add-result r --variant a --session-id {session} --success\r")
    child.expect_exact("Recorded a result for variant a of r")
    child.expect("trialbook>")


@pytest.mark.slow
@pytest.mark.parametrize("outside", [1, 3])
def test_shell_writes_survive_writes_from_other_processes(
    db_path: Path, invoke: Invoke, outside: int
) -> None:
    assert invoke("ab", "create", "r", "--variants", "a,b").exit_code == 0
    child = spawn(db_path)
    expected = []
    try:
        child.expect("trialbook>")
        shell_add(child, "repl-0")
        expected.append("repl-0")
        for i in range(outside):
            outside_write(db_path, f"ext-{i}")
            expected.append(f"ext-{i}")
            shell_add(child, f"repl-{i + 1}")
            expected.append(f"repl-{i + 1}")
        # the shell's completion reads names too: type a partial name and ask for it
        child.send("ab summary \t")
        child.send("\r")
        child.expect("trialbook>")
        outside_write(db_path, "ext-last")
        expected.append("ext-last")
        shell_add(child, "repl-last")
        expected.append("repl-last")
        # a fresh process reads what the shell wrote while the shell is still open
        assert sessions(db_path) == expected
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert sessions(db_path) == expected
    assert count_events(db_path) == 1 + len(expected)
    assert invoke("events", "verify").exit_code == 0


# ---------------------------------------------------------------- no raw descriptors


def descriptors_on(path: Path) -> set[str]:
    """This process's open descriptors on ``path`` or its -wal/-shm (as /proc/self/fd shows)."""
    names = {str(path), f"{path}-wal", f"{path}-shm"}
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.removesuffix(" (deleted)") in names:
            found.add(f"{fd}:{target}")
    return found


@contextmanager
def no_raw_descriptor_opened(path: Path) -> Iterator[None]:
    """Fail if any ``open()`` of the database file runs while it is watched.

    SQLite's own descriptors are opened through its VFS, not Python's ``open``/``os.open``;
    those are what the trap is made of, so they are what is watched.
    """
    import builtins

    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open
    watched = {os.path.realpath(p) for p in (path, f"{path}-wal", f"{path}-shm")}

    def note(file: Any) -> None:
        if (
            isinstance(file, (str, bytes, os.PathLike))
            and os.path.realpath(os.fsdecode(file)) in watched
        ):
            opened.append(os.fsdecode(file))

    def guarded_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        note(file)
        return real_open(file, *args, **kwargs)

    def guarded_os_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        note(file)
        return real_os_open(file, *args, **kwargs)

    builtins.open, os.open = guarded_open, guarded_os_open
    try:
        yield
    finally:
        builtins.open, os.open = real_open, real_os_open
    assert opened == [], f"raw descriptors opened on the database: {opened}"


def test_opening_a_second_store_on_a_live_file_opens_no_raw_descriptor(db_path: Path) -> None:
    from trialbook.ledger import Ledger

    first = Ledger(db_path)
    try:
        with no_raw_descriptor_opened(db_path):
            second = Ledger(db_path)
            second.close()
        fds = descriptors_on(db_path)
        assert fds and not any("(deleted)" in fd for fd in fds)
    finally:
        first.close()


def test_a_file_that_is_not_sqlite_is_still_refused_by_name(tmp_path: Path, invoke: Invoke) -> None:
    bad = tmp_path / "notes.db"
    bad.write_text("these are my notes, not a database\n" * 20)
    before = bad.read_bytes()
    r = invoke("ab", "list", db=bad)
    assert r.exit_code == 1
    assert (
        r.output
        == f"Error: {bad} is not a trialbook database (not SQLite); pass another file with --db\n"
    )
    assert bad.read_bytes() == before  # never written, no -wal left beside it
    assert not Path(f"{bad}-wal").exists()


@pytest.mark.parametrize(
    "args",
    [
        ("ab", "summary", "r"),
        ("ab", "analyze", "r"),
        ("ab", "list"),
        ("events", "log"),
        ("events", "verify"),
        ("ab", "analyze", "r", "--at", "3"),
        ("ab", "add-result", "r", "--variant", "a", "--success"),
        ("audit", "report", "r"),
    ],
)
def test_commands_open_no_raw_descriptor_on_the_database(
    db_path: Path, invoke: Invoke, args: tuple[str, ...]
) -> None:
    assert invoke("ab", "create", "r", "--variants", "a,b").exit_code == 0
    for v in "ab":
        assert invoke("ab", "add-result", "r", "--variant", v, "--success").exit_code == 0
    with no_raw_descriptor_opened(db_path):
        r = invoke(*args)
    assert r.exit_code in (0, 1), r.output
    assert "internal error" not in r.output


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 640 KiB tmpfs (CI and developers run as root here); unmounted afterwards."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=640k", "tmpfs", str(mount)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"this test mounts a tmpfs and needs root: {done.stderr}"
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_disk_says_so_in_one_line_and_loses_nothing_acknowledged(
    tiny_disk: Path, invoke: Invoke
) -> None:
    db = tiny_disk / "t.db"
    assert invoke("ab", "create", "r", "--variants", "a,b", db=db).exit_code == 0
    acknowledged = 0
    errors = []
    for i in range(400):
        r = invoke("ab", "add-result", "r", "--variant", "ab"[i % 2], "--success",
                   "--session-id", f"s-{i}-" + "x" * 400, db=db)  # fmt: skip
        if r.exit_code == 0:
            acknowledged += 1
        else:
            errors.append(r.output)
        if len(errors) >= 3:
            break
    assert errors, "the 640 KiB disk never filled"
    where = tiny_disk.resolve()
    for output in errors:
        assert output == (
            f"Error: the disk holding {where} is full; nothing was recorded: "
            "free some space (or pass a --db on another disk) and run the command again\n"
        ), output
    assert count_events(db) == 1 + acknowledged
    # space freed: the same file takes writes again and its chain is whole
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)
    assert invoke("ab", "add-result", "r", "--variant", "a", "--success", db=db).exit_code == 0
    assert count_events(db) == 2 + acknowledged
    assert invoke("events", "verify", db=db).exit_code == 0
