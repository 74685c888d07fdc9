"""The shape of the code: no import cycles, and the product never loads the sandbox.

Imports are read with `ast`, not by importing, so a cycle is found even where it is
hidden. A cycle is usually hidden by moving one of its imports into a function: Python
then copes at run time, but the two modules still cannot be understood, tested or moved
apart, and the next import added at the top breaks at start-up. So the cycle check counts
imports inside functions too; only imports under ``if TYPE_CHECKING:`` are left out, as
they never run.

The sandbox (the demo clinic, the Telegram emulator) is for trying Kabinet out: an
installed appliance must never load it. The product packages do not import it at module
level, directly or through one another; only the CLI commands that run the sandbox may
import it, inside the command.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = ("app", "bot_handlers", "connectors", "core", "jobs")
PACKAGES = (*PRODUCT, "sandbox")
# The functions allowed to import the sandbox: the commands that exist to run it.
SANDBOX_ENTRY_POINTS = {("app.cli", "demo"), ("app.cli", "sandbox_telegram")}


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    function: str | None  # the outermost enclosing function; None at module level
    type_checking: bool  # under `if TYPE_CHECKING:`: never runs


def find_modules(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages under root."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def read_imports(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The imports of one module that name one of `modules`.

    ``from package import name`` is an import of the submodule when `name` is one, else of
    the package; relative imports are resolved against the module's own package.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [alias.name for alias in node.names]
        base = node.module or ""
        if node.level:
            bits = package.split(".")
            bits = bits[: len(bits) - node.level + 1]
            base = ".".join([*bits, *([node.module] if node.module else [])])
        # `from x import a, b` of two names (not modules) is one import of x.
        return list(
            dict.fromkeys(
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            )
        )

    def visit(nodes: Iterable[ast.AST], function: str | None, type_checking: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, function or node.name, type_checking)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.body, function, True)
                visit(node.orelse, function, type_checking)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                found.extend(
                    Import(name, target, node.lineno, function, type_checking)
                    for target in targets(node)
                    if target in modules and target != name
                )
            else:
                visit(ast.iter_child_nodes(node), function, type_checking)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)).body, None, False)
    return found


def all_imports(root: Path, packages: Iterable[str]) -> list[Import]:
    modules = find_modules(root, packages)
    return [imp for name, path in modules.items() for imp in read_imports(name, path, modules)]


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    graph: dict[str, list[str]] = {}
    for source, target in edges:
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found)


def describe(component: list[str], imports: list[Import]) -> str:
    members = set(component)
    lines = [" <-> ".join(component)]
    for imp in imports:
        if imp.source in members and imp.target in members:
            where = f"in {imp.function}()" if imp.function else "at module level"
            lines.append(f"    {imp.source}:{imp.line} imports {imp.target} {where}")
    return "\n".join(lines)


def runtime_cycles(root: Path, packages: Iterable[str]) -> tuple[list[list[str]], list[Import]]:
    imports = [imp for imp in all_imports(root, packages) if not imp.type_checking]
    return cycles((imp.source, imp.target) for imp in imports), imports


def _parents(module: str) -> list[str]:
    bits = module.split(".")
    return [".".join(bits[:i]) for i in range(1, len(bits))]


def loaded_at_import(module: str, imports: list[Import]) -> set[str]:
    """Every project module that importing `module` loads: its module-level imports,
    theirs, and the packages each of them lives in (their __init__ runs first)."""
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if imp.function is None and not imp.type_checking:
            edges.setdefault(imp.source, set()).add(imp.target)
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        for nxt in [*edges.get(current, ()), *_parents(current)]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# --- the finder itself ---------------------------------------------------------------------


def write_package(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_finder_sees_cycles_hidden_in_functions(tmp_path: Path) -> None:
    write_package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg.b import thing\n",
            # A relative import inside a method of a class: still an import of pkg.a.
            "pkg/b.py": "class B:\n    def m(self):\n        from . import a\n",
            "pkg/c.py": "import pkg.d\n",
            "pkg/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n",
            "pkg/sub/__init__.py": "from ..a import thing\n",
            "pkg/e.py": "from pkg.sub import x\n",
        },
    )
    found, imports = runtime_cycles(tmp_path, ["pkg"])
    assert found == [["pkg.a", "pkg.b"]]
    text = describe(found[0], imports)
    assert "pkg.b:3 imports pkg.a in m()" in text
    assert "pkg.a:1 imports pkg.b at module level" in text
    assert loaded_at_import("pkg.e", imports) == {"pkg", "pkg.sub", "pkg.a", "pkg.b"}


def test_the_finder_names_every_module_of_a_longer_cycle() -> None:
    edges = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e"), ("e", "d"), ("x", "a")]
    assert cycles(edges) == [["a", "b", "c"], ["d", "e"]]
    assert cycles([("a", "b"), ("b", "c")]) == []


# --- the project ---------------------------------------------------------------------------


def test_no_import_cycles() -> None:
    found, imports = runtime_cycles(REPO, PACKAGES)
    assert not found, "import cycles (move what both sides need into a module of its own):\n" + (
        "\n".join(describe(component, imports) for component in found)
    )


def test_the_product_does_not_import_the_sandbox() -> None:
    imports = all_imports(REPO, PACKAGES)
    product = [name for name in find_modules(REPO, PRODUCT)]
    assert "app.cli" in product and "core.loyalty.earning" in product  # the walk found them
    problems = [
        f"{imp.source}:{imp.line} imports {imp.target}"
        + (f" in {imp.function}()" if imp.function else " at module level")
        for imp in imports
        if imp.source.split(".")[0] in PRODUCT
        and imp.target.split(".")[0] == "sandbox"
        and (imp.source, imp.function) not in SANDBOX_ENTRY_POINTS
    ]
    for name in product:
        reached = sorted(m for m in loaded_at_import(name, imports) if m.split(".")[0] == "sandbox")
        if reached:
            problems.append(f"importing {name} loads {', '.join(reached)}")
    assert not problems, "the product must not import the sandbox:\n" + "\n".join(problems)


def test_the_appliances_processes_start_without_the_sandbox() -> None:
    # What `kabinet run` and the web workers load, really imported in a fresh interpreter:
    # the ast reading above cannot see an import done through importlib.
    code = (
        "import sys\n"
        "import app, app.cli, app.serve, app.storage, jobs.runner, bot_handlers.bot\n"
        "print(sorted(m for m in sys.modules if m == 'sandbox' or m.startswith('sandbox.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout
