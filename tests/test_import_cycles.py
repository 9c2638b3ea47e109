"""The house rules for imports: no cycles between modules, and a pure domain.

The graph is read from the source with :mod:`ast`, not by importing it, and it
counts every import that can run: at the top of a module and inside functions
(a lazy import is still a dependency; it only moves the moment it can fail).
Imports under ``if TYPE_CHECKING:`` never run and are left out of the cycle
check; the domain's purity check counts them too (knowing a type of the store
is knowing the store).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: folder at the repository root -> the package it installs as (pyproject's package-dir)
PACKAGES = {
    "trialbook": "trialbook",
    "domain": "trialbook.domain",
    "store": "trialbook.store",
    "projections": "trialbook.projections",
    "ledger": "trialbook.ledger",
    "plain": "trialbook.plain",
    "runners": "trialbook.runners",
    "shell": "trialbook.shell",
}

#: what ``trialbook.domain`` may not import: the layers above it, and I/O libraries
DOMAIN_MUST_NOT_IMPORT = (
    "trialbook.store",
    "trialbook.projections",
    "trialbook.ledger",
    "trialbook.shell",
    "trialbook.runners",
    "trialbook.plain",
    "sqlite3",
    "sqlite_utils",
    "click",
    "httpx",
    "prompt_toolkit",
)


@cache
def modules() -> dict[str, Path]:
    """Every module of the installed package, by dotted name, with its source file."""
    found: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def is_package(name: str) -> bool:
    return modules()[name].name == "__init__.py"


def is_type_checking_guard(node: ast.If) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(tree: ast.AST, *, type_checking: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, at any depth; ``if TYPE_CHECKING:`` bodies only if asked."""
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and is_type_checking_guard(node) and not type_checking:
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imported_names(name: str, *, type_checking: bool = False) -> Iterator[str]:
    """Every dotted name ``name`` imports, anywhere in its source, resolved to absolute form.

    ``from X import Y`` yields ``X.Y`` when that is one of our modules, else ``X``.
    Imports under ``if TYPE_CHECKING:`` never run, so they are left out unless
    ``type_checking`` is true.
    """
    tree = ast.parse(modules()[name].read_text(encoding="utf-8"), str(modules()[name]))
    package = name if is_package(name) else name.rpartition(".")[0]
    for node in import_nodes(tree, type_checking=type_checking):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                yield sub if sub in modules() else source


def internal_target(imported: str) -> str | None:
    """The module of ours that importing ``imported`` runs, or None if it is not ours."""
    while imported and imported not in modules():
        imported = imported.rpartition(".")[0]
    return imported or None


@cache
def graph() -> dict[str, frozenset[str]]:
    """module -> the modules of ours it imports (a module importing an ancestor package is left out)."""
    edges: dict[str, frozenset[str]] = {}
    for name in modules():
        targets = set()
        for imported in imported_names(name):
            target = internal_target(imported)
            if target is None or target == name or name.startswith(target + "."):
                continue
            targets.add(target)
        edges[name] = frozenset(targets)
    return edges


def strongly_connected_components(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; returns only the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def a_cycle_through(component: list[str], edges: dict[str, frozenset[str]]) -> list[str]:
    """One concrete import cycle inside a strongly connected component, for the message."""
    members = set(component)
    start = component[0]
    # breadth-first from start back to start, staying inside the component
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(edges[node] & members):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                queue.append(child)
    raise AssertionError("a strongly connected component always holds a cycle")


def describe(components: list[list[str]], edges: dict[str, frozenset[str]]) -> str:
    lines = []
    for component in components:
        lines.append(f"{len(component)} modules import each other: {', '.join(component)}")
        lines.append("  for example: " + " -> ".join(a_cycle_through(component, edges)))
    return "\n".join(lines)


class TestTheImportGraph:
    def test_every_package_folder_is_read(self) -> None:
        for package in PACKAGES.values():
            assert package in modules(), f"{package} has no __init__.py"
        assert "trialbook.domain.events" in modules()
        assert "trialbook.shell.cli" in modules()

    def test_lazy_imports_inside_functions_count(self) -> None:
        # shell/cli.py imports the REPL only when it opens, and shell/group.py the
        # user-facing errors only when one is raised: edges all the same
        assert "trialbook.shell.repl" in graph()["trialbook.shell.cli"]
        assert "trialbook.domain.errors" in graph()["trialbook.shell.group"]

    def test_imports_under_type_checking_are_left_out_unless_asked(self) -> None:
        source = (
            "import a\n"
            "if TYPE_CHECKING:\n"
            "    import b\n"
            "else:\n"
            "    import c\n"
            "def f():\n"
            "    if typing.TYPE_CHECKING:\n"
            "        import d\n"
            "    import e\n"
        )

        def names(type_checking: bool) -> set[str]:
            nodes = import_nodes(ast.parse(source), type_checking=type_checking)
            return {alias.name for node in nodes for alias in node.names}

        assert names(type_checking=False) == {"a", "c", "e"}
        assert names(type_checking=True) == {"a", "b", "c", "d", "e"}

    def test_the_cycle_finder_finds_a_cycle(self) -> None:
        edges = {
            "a": frozenset({"b"}),
            "b": frozenset({"c"}),
            "c": frozenset({"a"}),
            "d": frozenset({"a"}),
        }
        assert strongly_connected_components(edges) == [["a", "b", "c"]]
        assert a_cycle_through(["a", "b", "c"], edges) == ["a", "b", "c", "a"]

    def test_no_modules_import_each_other(self) -> None:
        components = strongly_connected_components(graph())
        assert not components, "import cycles:\n" + describe(components, graph())


class TestTheDomainStaysPure:
    def test_domain_imports_no_layer_above_it_and_no_io_library(self) -> None:
        offences = []
        for name in modules():
            if name != "trialbook.domain" and not name.startswith("trialbook.domain."):
                continue
            for imported in imported_names(name, type_checking=True):
                for banned in DOMAIN_MUST_NOT_IMPORT:
                    if imported == banned or imported.startswith(banned + "."):
                        offences.append(f"{name} imports {imported}")
        assert not offences, "\n".join(offences)

    def test_domain_imports_nothing_from_the_public_api(self) -> None:
        api = {name for name in modules() if modules()[name].parent == ROOT / "trialbook"}
        offences = [
            f"{name} imports {imported}"
            for name in modules()
            if name == "trialbook.domain" or name.startswith("trialbook.domain.")
            for imported in imported_names(name, type_checking=True)
            if internal_target(imported) in api
        ]
        assert not offences, "\n".join(offences)


class TestTheEventCatalog:
    def test_it_names_every_event_type_the_domain_defines(self) -> None:
        # a fresh interpreter: the catalog alone must know every type, before any
        # other module of the domain has been imported
        code = (
            "import importlib, pkgutil\n"
            "import trialbook.domain\n"
            "from trialbook.domain.catalog import all_event_types\n"
            "known = set(all_event_types())\n"
            "for m in pkgutil.walk_packages(trialbook.domain.__path__, 'trialbook.domain.'):\n"
            "    importlib.import_module(m.name)\n"
            "from trialbook.domain.events import EVENT_TYPES\n"
            "print(sorted(set(EVENT_TYPES) - known))\n"
            "print(len(known))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout.split("\n")
        assert out[0] == "[]", (
            f"event types the catalog misses (import their module there): {out[0]}"
        )
        assert int(out[1]) > 10
