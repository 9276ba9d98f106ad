"""The package stays one layered house: no module imports, at load time, a module that imports it
back (directly or through others). Imports inside functions (the CLI's lazy ones) are not load-time
edges and are allowed to reach upward, except out of a stage: a stage subpackage (formats, sources,
detect, report, outputs, exports, state) never imports, anywhere in its code, a later stage or the
glue around them (cli, engine, api, dask, config ...), so the core stays lines in, findings out."""

from __future__ import annotations

import ast

from conftest import ROOT

SRC = ROOT / "src" / "dropscan"


def _modules() -> dict[str, object]:
    mods = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = p
    return mods


def _edges(mods: dict, everywhere: bool = False) -> dict[str, set[str]]:
    """Module -> the modules it imports at load time (top-level statements), or ``everywhere``
    (also inside functions and ``if TYPE_CHECKING``)."""
    graph = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree) if everywhere else tree.body:
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - max(node.level - 1, 0)] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
                for alias in node.names:
                    target = f"{mod}.{alias.name}"
                    deps.add(target if target in mods else mod)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(u: str) -> None:
        state[u] = "open"
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == "open":
                found.append([*stack[stack.index(v) :], v])
            elif v not in state:
                visit(v)
        stack.pop()
        state[u] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    return found


def test_the_checker_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_no_import_cycles_at_load_time():
    graph = _edges(_modules())
    assert graph.get("dropscan.detect.scanner"), "the import graph was not read"
    assert _cycles(graph) == []


# What each stage may import besides itself and BASE. A stage is a subpackage (or a base module);
# modules directly under dropscan/ (and the cli package) are the glue: entry points, engine, config.
BASE = {"dropscan.errors", "dropscan.extras"}
GLUE = {"cli"}  # the command line is a subpackage (one module per command) but glue: it may import any
MAY_IMPORT = {
    "errors": set(),
    "extras": set(),
    "formats": set(),
    "sources": set(),
    "detect": {"formats"},
    "report": {"formats", "sources", "detect"},
    "outputs": {"formats", "sources", "detect", "report"},
    "exports": {"formats", "sources", "detect", "report", "outputs"},
    "state": {"formats", "sources", "detect", "engine"},  # an incremental run drives the engine's Scan
}


def _stage(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted(
        (m, d)
        for m, deps in graph.items()
        if _stage(m) in MAY_IMPORT
        for d in deps
        if d not in BASE and _stage(d) != _stage(m) and _stage(d) not in MAY_IMPORT[_stage(m)]
    )


def test_the_stage_check_sees_an_upward_import():
    graph = _edges(_modules(), everywhere=True)
    planted = {**graph}
    planted["dropscan.detect.scanner"] = graph["dropscan.detect.scanner"] | {"dropscan.report.egress_report"}
    planted["dropscan.formats.apache"] = graph["dropscan.formats.apache"] | {"dropscan.detect.decode", "dropscan.cli"}
    assert _upward(planted) == [
        ("dropscan.detect.scanner", "dropscan.report.egress_report"),
        ("dropscan.formats.apache", "dropscan.cli"),
        ("dropscan.formats.apache", "dropscan.detect.decode"),
    ]


def test_lower_stages_never_import_higher_ones():
    mods = _modules()
    graph = _edges(mods, everywhere=True)
    assert graph.get("dropscan.detect.scanner"), "the import graph was not read"
    subpackages = {_stage(m) for m, path in mods.items() if path.name == "__init__.py" and m != "dropscan"}
    assert subpackages <= MAY_IMPORT.keys() | GLUE, "a new subpackage needs its place in MAY_IMPORT"
    assert _upward(graph) == []
