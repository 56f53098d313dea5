"""The structure shows the design: no import cycles in ``crm_connect``, contracts at the bottom.

The import graph is read from the source with :mod:`ast`, every import counted wherever it
stands: at the top of a module, inside a function (a lazy import), under ``TYPE_CHECKING``,
and ``importlib.import_module("crm_connect...")`` with a literal name.  A lazy import hides a
cycle from Python but not from the design, so it counts here.

Importing ``a.b.c`` from outside package ``a.b`` runs ``a/b/__init__.py`` too, so such an
import also depends on that package (and on ``a``'s); a module's own enclosing packages are
already being imported when it runs and are not counted.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import crm_connect

PACKAGE_DIR = Path(crm_connect.__file__).parent

CONTRACTS = (
    "crm_connect.schema",
    "crm_connect.connector",
    "crm_connect.errors",
    "crm_connect.events",
    "crm_connect.store_contract",
    "crm_connect.hookspecs",
    "crm_connect.sandboxes",
)
"""What plugins and the core agree on: the bottom of the house."""

IMPLEMENTATIONS = (
    "crm_connect.store",
    "crm_connect.store_access",
    "crm_connect.sync",
    "crm_connect.pages",
    "crm_connect.cli",
    "crm_connect.cli_*",
    "crm_connect.metrics",
    "crm_connect.connectors",
)
"""Modules (and packages, with everything in them) that implement the contracts or use them.
``name_*`` stands for every module whose name starts so."""


@dataclass
class ImportGraph:
    """Module name to the modules it imports, each with the lines that import it."""

    modules: dict[str, Path]
    edges: dict[str, dict[str, list[int]]] = field(default_factory=dict)

    def where(self, source: str, target: str) -> str:
        lines = ", ".join(str(line) for line in sorted(set(self.edges[source][target])))
        path = self.modules[source]
        return f"{source} -> {target} ({path.name}, line {lines})"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_names(node: ast.AST, module: str, is_package: bool,
                    modules: dict[str, Path]) -> Iterable[str]:
    """The dotted names an AST node imports, as written (resolved for relative imports)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join([*base, *([node.module] if node.module else [])])
        else:
            source = node.module or ""
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            yield submodule if submodule in modules else source
    elif isinstance(node, ast.Call):
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else (
            function.id if isinstance(function, ast.Name) else "")
        if name in ("import_module", "__import__") and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value


def _dynamic_imports(tree: ast.Module, modules: dict[str, Path]) -> Iterable[ast.Constant]:
    """In a module that imports a computed name (``import_module(name)``), every string
    literal that names a project module: the names it may be computed from."""
    dynamic = any(
        isinstance(node, ast.Call) and node.args
        and not isinstance(node.args[0], ast.Constant)
        and (node.func.attr if isinstance(node.func, ast.Attribute) else
             node.func.id if isinstance(node.func, ast.Name) else "")
        in ("import_module", "__import__")
        for node in ast.walk(tree))
    if dynamic:
        yield from (node for node in ast.walk(tree) if isinstance(node, ast.Constant)
                    and isinstance(node.value, str) and node.value in modules)


def _targets(name: str, importer: str, modules: dict[str, Path]) -> Iterable[str]:
    """The project modules that importing ``name`` from ``importer`` runs."""
    while name and name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    if name not in modules:
        return
    yield name
    parts = name.split(".")
    for end in range(1, len(parts)):
        package = ".".join(parts[:end])
        if importer != package and not importer.startswith(package + "."):
            yield package


def build_import_graph(package_dir: Path) -> ImportGraph:
    """The import graph of the package at ``package_dir`` (itself a top-level package)."""
    root = package_dir.parent
    modules = {_module_name(path, root): path for path in sorted(package_dir.rglob("*.py"))}
    graph = ImportGraph(modules)
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets: dict[str, list[int]] = {}
        imports = [(node, name) for node in ast.walk(tree)
                   for name in _imported_names(node, module, path.name == "__init__.py",
                                               modules)]
        imports += [(node, str(node.value)) for node in _dynamic_imports(tree, modules)]
        for node, name in imports:
            for target in _targets(name, module, modules):
                if target != module:
                    targets.setdefault(target, []).append(getattr(node, "lineno", 0))
        graph.edges[module] = targets
    return graph


def find_cycles(graph: ImportGraph) -> list[list[str]]:
    """One cycle (as a closed path of modules) for every group of modules that import each
    other, found with Tarjan's strongly connected components."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.edges[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == module:
                    break
            if len(group) > 1:
                groups.append(group)

    for module in sorted(graph.edges):
        if module not in index:
            visit(module)
    return [_cycle_in(graph, group) for group in groups]


def _cycle_in(graph: ImportGraph, group: set[str]) -> list[str]:
    """A shortest closed path through the first module of ``group`` (breadth first)."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph.edges[module]):
                if target not in group:
                    continue
                if target == start:
                    path = [module]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = module
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover


def _describe(graph: ImportGraph, cycle: list[str]) -> str:
    steps = "\n    ".join(graph.where(a, b) for a, b in itertools.pairwise(cycle))
    return f"{' -> '.join(cycle)}\n    {steps}"


def _matches(module: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern.endswith("*"):
            if module.startswith(pattern[:-1]):
                return True
        elif module == pattern or module.startswith(pattern + "."):
            return True
    return False


def reached_implementations(graph: ImportGraph, contract: str) -> list[list[str]]:
    """For each implementation module a contract module reaches through imports, the path."""
    paths: dict[str, list[str]] = {contract: [contract]}
    frontier = [contract]
    found = []
    while frontier:
        following = []
        for module in frontier:
            for target in sorted(graph.edges[module]):
                if target in paths:
                    continue
                paths[target] = [*paths[module], target]
                if _matches(target, IMPLEMENTATIONS):
                    found.append(paths[target])
                else:
                    following.append(target)
        frontier = following
    return found


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return build_import_graph(PACKAGE_DIR)


def test_crm_connect_has_no_import_cycles(graph: ImportGraph) -> None:
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in crm_connect (move the shared contract down, or the " \
        "code to the module it belongs in):\n" + "\n".join(
            _describe(graph, cycle) for cycle in cycles)


@pytest.mark.parametrize("contract", CONTRACTS)
def test_contract_modules_import_no_implementation(graph: ImportGraph, contract: str) -> None:
    assert contract in graph.modules, f"{contract} is gone: update CONTRACTS"
    paths = reached_implementations(graph, contract)
    assert not paths, f"the contract module {contract} depends on implementations:\n" + \
        "\n".join(_describe(graph, path) for path in paths)


BUILTIN_PLUGINS = {
    "crm_connect.connectors.files": (),
    "crm_connect.metrics.catalogue": (),
    "crm_connect.store": (),
    "crm_connect.pgstore": (),
}
"""The built-in plugin modules (the entry points of pyproject.toml) and who else may import
them; everything else types against the contracts (the store contract, the KPI registry)."""


@pytest.mark.parametrize("builtin", BUILTIN_PLUGINS)
def test_builtin_plugins_arrive_through_their_entry_points(graph: ImportGraph,
                                                           builtin: str) -> None:
    assert builtin in graph.modules, f"{builtin} is gone: update BUILTIN_PLUGINS"
    users = sorted(module for module, targets in graph.edges.items()
                   if builtin in targets and module not in BUILTIN_PLUGINS[builtin]
                   and not module.startswith(builtin + "."))
    assert not users, f"these modules import the built-in plugin {builtin} directly (it " \
        "arrives through its entry point; type against the contract instead):\n" + \
        "\n".join(graph.where(module, builtin) for module in users)


def _write_package(root: Path, files: dict[str, str]) -> Path:
    """Write a package's files under ``root``; returns the package's folder."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / next(iter(files)).split("/")[0]


def test_the_checker_sees_lazy_type_checking_and_importlib_cycles(tmp_path: Path) -> None:
    package = _write_package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f():\n    from pkg import b\n",
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.c\n",
        "pkg/c.py": "import importlib\nimportlib.import_module('pkg.a')\n",
        "pkg/sub/__init__.py": "from pkg.sub import inner\n",
        "pkg/sub/inner.py": "",
        "pkg/d.py": "from pkg.sub.inner import x\n",
        "pkg/e.py": "from .d import y\n",
        "pkg/f.py": "import importlib\nfor name in ('pkg.e', 'not.ours'):\n"
                    "    importlib.import_module(name)\n",
    })
    graph = build_import_graph(package)
    cycles = find_cycles(graph)
    assert cycles == [["pkg.a", "pkg.b", "pkg.c", "pkg.a"]]
    assert "pkg.a -> pkg.b (a.py, line 2)" in _describe(graph, cycles[0])
    # Importing a submodule from outside its package runs the package's __init__ too.
    assert set(graph.edges["pkg.d"]) == {"pkg.sub.inner", "pkg.sub"}
    assert set(graph.edges["pkg.sub"]) == {"pkg.sub.inner"}
    assert set(graph.edges["pkg.e"]) == {"pkg.d"}
    # A computed name: the module names it may be computed from count.
    assert set(graph.edges["pkg.f"]) == {"pkg.e"}


def test_the_checker_follows_a_contract_through_helpers(tmp_path: Path) -> None:
    package = _write_package(tmp_path, {
        "crm_connect/__init__.py": "",
        "crm_connect/schema.py": "from crm_connect import helper\n",
        "crm_connect/helper.py": "def f():\n    from crm_connect.metrics import engine\n",
        "crm_connect/metrics/__init__.py": "",
        "crm_connect/metrics/engine.py": "",
    })
    graph = build_import_graph(package)
    assert reached_implementations(graph, "crm_connect.schema") == [
        ["crm_connect.schema", "crm_connect.helper", "crm_connect.metrics"],
        ["crm_connect.schema", "crm_connect.helper", "crm_connect.metrics.engine"]]
    assert find_cycles(graph) == []


STORE_MODULES = ("crm_connect.store", "crm_connect.store_access", "crm_connect.pgstore",
                 "crm_connect.pgstore_sql")
"""The store backends: the only modules that talk to a database."""
DATABASE_DRIVERS = ("duckdb", "psycopg")
CONNECTION_ATTRIBUTES = ("con", "_con", "_shared", "pgconn")
"""Attributes through which code would reach around the store contract to a connection."""


def _database_reaches(package_dir: Path) -> list[str]:
    """Where a module outside :data:`STORE_MODULES` imports a database driver or touches a
    connection attribute (``store.con``, ``cursor()``)."""
    root = package_dir.parent
    found = []
    for path in sorted(package_dir.rglob("*.py")):
        module = _module_name(path, root)
        if _matches(module, STORE_MODULES):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            drivers = [n for n in names if n.split(".")[0] in DATABASE_DRIVERS]
            if drivers:
                found.append(f"{module} imports {', '.join(drivers)} ({path.name}, line "
                             f"{node.lineno})")
            if isinstance(node, ast.Attribute) and node.attr in CONNECTION_ATTRIBUTES:
                found.append(f"{module} touches .{node.attr} ({path.name}, line "
                             f"{node.lineno})")
    return found


def test_only_store_modules_touch_a_database() -> None:
    reaches = _database_reaches(PACKAGE_DIR)
    assert not reaches, "the store contract is the only way into a database (dialect, " \
        "query_arrow, append_arrow, write_page, lock_connections); these reach around " \
        "it:\n" + "\n".join(reaches)


def test_the_database_check_sees_imports_and_connections(tmp_path: Path) -> None:
    package = _write_package(tmp_path, {
        "crm_connect/__init__.py": "",
        "crm_connect/store.py": "import duckdb\n",
        "crm_connect/metrics/__init__.py": "",
        "crm_connect/metrics/run.py": "def f(store):\n    return store.con.execute('x')\n",
        "crm_connect/metrics/pg.py": "from psycopg import sql\n",
        "crm_connect/cli.py": "def g(store):\n    return store.query_arrow('SELECT 1')\n",
    })
    assert _database_reaches(package) == [
        "crm_connect.metrics.pg imports psycopg (pg.py, line 1)",
        "crm_connect.metrics.run touches .con (run.py, line 2)",
    ]
