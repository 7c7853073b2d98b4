"""The layering rules of docs/architecture.md, read from the source's import statements.

- feeders/ imports nothing from federates/ or runner/;
- a kind (federates/<kind>/) imports no other kind: only the shared modules
  (runtime, messages, registry, process, common);
- the shared modules of federates/ import no kind;
- only federates/runtime.py imports helics;
- runner/ names no kind (it asks the registry);
- no import cycle between modules, lazy imports inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("federates", "feeders", "runner")
SHARED = {"runtime", "messages", "registry", "process", "checks", "common", "__main__",
          "__init__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in sorted((REPO / pkg).rglob("*.py"))}


def imports_of(path: Path, module: str, known: set[str] | frozenset[str] = frozenset()) \
        -> set[str]:
    """Every module `path` imports (absolute names), at any depth of its code. `from P
    import m` imports submodule P.m when `known` has it, else (a name of P) P itself."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return found


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:` (imports for annotations only)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def graph() -> dict[str, set[str]]:
    mods = sources()
    known = set(mods)
    return {m: {i for i in imports_of(p, m, known) if i in mods and i != m}
            for m, p in mods.items()}


def kind_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "federates" and len(parts) > 1 and parts[1] not in SHARED:
        return parts[1]
    return None


def test_the_scan_sees_the_known_imports():
    """Guards the scanner itself: it must see absolute, relative and lazy imports."""
    g = graph()
    assert "federates.runtime" in g["federates.grid.federate"]
    assert "feeders" in g["federates.grid.federate"]
    assert "federates.registry" in g["runner.compile"]
    assert "federates.market.operator" in g["federates.market.federate"]  # lazy import


def test_feeders_import_nothing_of_federates_or_runner():
    bad = {m: sorted(i for i in deps if i.split(".")[0] in ("federates", "runner"))
           for m, deps in graph().items() if m.split(".")[0] == "feeders"}
    assert {m: d for m, d in bad.items() if d} == {}


def test_no_kind_imports_another_kind():
    bad = {}
    for module, deps in graph().items():
        if module.split(".")[0] != "federates":
            continue
        mine = kind_of(module)
        other = sorted(d for d in deps if kind_of(d) not in (None, mine))
        if other:
            bad[module] = other
    assert bad == {}


def test_only_the_runtime_imports_helics():
    users = sorted(m for m, p in sources().items()
                   if any(i.split(".")[0] == "helics" for i in imports_of(p, m)))
    assert users == ["federates.runtime"]


def kind_literals(source: str) -> list[str]:
    """Kind names written as literals where code decides by kind: compared with something
    named kind, or passed to a call named kind (`wrapper_class("grid")`)."""
    from federates.registry import BUILTIN_KINDS

    out = []
    for node in ast.walk(ast.parse(source)):
        literals = []
        if isinstance(node, ast.Compare) and "kind" in ast.unparse(node):
            literals = [node.left, *node.comparators]
        elif isinstance(node, ast.Call) and any(
                w in ast.unparse(node.func) for w in ("kind", "wrapper_class")):
            literals = list(node.args)
        out += [f"line {node.lineno}: {n.value}" for n in literals
                if isinstance(n, ast.Constant) and n.value in BUILTIN_KINDS]
    return out


def test_the_kind_name_check_sees_branches_on_kinds():
    code = 'if fed.kind == "market":\n    pass\nwrapper_class("grid")\nx = {"grid": 1}\n'
    assert kind_literals(code) == ["line 1: market", "line 3: grid"]


def test_runner_names_no_kind():
    """runner/ never decides by a kind's name (kinds come from the registry)."""
    found = {str(p.relative_to(REPO)): kind_literals(p.read_text())
             for p in sorted((REPO / "runner").rglob("*.py"))}
    assert {p: k for p, k in found.items() if k} == {}


def test_no_import_cycles():
    g = graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(g[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(g):
        if v not in index:
            visit(v)
    # a package importing its own submodules and them importing the package's names is a
    # cycle too; none is allowed
    assert cycles == []
