"""The package's layers, written once: a module imports only from its own layer or those below
it, and two modules of one layer never import each other both ways. Imports under
`if TYPE_CHECKING:` are annotations, not dependencies, and are not counted; imports inside
functions are."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "exporter"

# Top to bottom. A module of a layer may import from that layer and every one after it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("exporter.__main__", "exporter.cli"),
    ("exporter.bundle",),
    ("exporter.daemon", "exporter.runtime", "exporter.server", "exporter.nodecondition"),
    ("exporter.checks",),  # the registry
    (
        "exporter.checks.node.*",
        "exporter.checks.cluster.*",
        "exporter.checks.node",
        "exporter.checks.cluster",
        "exporter.checks.shared",
    ),
    ("exporter.scheduler", "exporter.context", "exporter.exposition"),
    # What checks talk through: the installation, the Kubernetes clients, containerd, HTTP.
    (
        "exporter.installation",
        "exporter.installation.*",
        "exporter.kube",
        "exporter.nodewatch",
        "exporter.nodecache",
        "exporter.nodeapi",
        "exporter.kubelite",
        "exporter.criconfig",
        "exporter.grpc_unix",
        "exporter.httpcheck",
        "exporter.platforms",
        "exporter.compat",
    ),
    (
        "exporter.config",
        "exporter.hostfs",
        "exporter.store",
        "exporter.scrub",
        "exporter.sizing",
        "exporter.webconfig",
        "exporter.sharedreads",
        "exporter.inflight",
        "exporter.bounded",
        "exporter.gitpod",
        "exporter.logs",
        "exporter.report",
        "exporter.nodefacts",
        "exporter.pager",
        "exporter.truststore",
        "exporter.kubeletroot",
        "exporter.netpol",
    ),
    ("exporter.safeyaml", "exporter.safetoml"),
    ("exporter.urllib3deadline",),
    ("exporter.watchdog", "exporter.malloc"),
    ("exporter.parse", "exporter.model", "exporter"),
    ("exporter.families",),
)


def layer(module: str) -> int:
    for depth, members in enumerate(LAYERS):
        for member in members:
            if module == member or (member.endswith(".*") and module.startswith(member[:-1])):
                return depth
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, annotations: bool = False) -> set[str]:
    """The exporter modules `path` imports at run time (and for annotations, if asked)."""
    tree = ast.parse(path.read_text())
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only |= {id(n) for child in node.body for n in ast.walk(child)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only and not annotations:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("exporter"):
            base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = (ROOT / (sub.replace(".", "/") + ".py")).exists() or (
                    ROOT / sub.replace(".", "/") / "__init__.py"
                ).exists()
                found.add(sub if is_module else base)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("exporter")}
    return found


def test_every_module_imports_only_from_its_layer_or_below() -> None:
    graph = {_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    upward = [
        f"{module} (layer {layer(module)}) imports {target} (layer {layer(target)})"
        for module, targets in graph.items()
        for target in targets
        if target != module and layer(target) < layer(module)
    ]
    assert upward == [], "imports against the layers:\n" + "\n".join(upward)
    both_ways = sorted(
        f"{a} <-> {b}"
        for a, targets in graph.items()
        for b in targets
        if a < b and a in graph.get(b, set())
    )
    assert both_ways == [], "modules importing each other:\n" + "\n".join(both_ways)


def test_no_cycle_even_through_annotations() -> None:
    # An import under TYPE_CHECKING is no dependency at run time, but a cycle through one still
    # ties two modules together: neither can be understood, or moved, without the other.
    graph = {_name(p): _imports(p, annotations=True) for p in PACKAGE.rglob("*.py")}
    cycles = set()
    for start in graph:
        stack, seen = [(start, (start,))], {start}
        while stack:
            module, trail = stack.pop()
            for target in graph.get(module, ()):
                if target == start and len(trail) > 1:
                    cycles.add(" -> ".join(min(trail[i:] + trail[:i] for i in range(len(trail)))))
                elif target not in seen and target in graph and target != module:
                    seen.add(target)
                    stack.append((target, (*trail, target)))
    # A package's __init__ and its own modules are one unit.
    cycles = {c for c in cycles if not _within_one_package(c)}
    assert cycles == set(), "import cycles (annotations included):\n" + "\n".join(sorted(cycles))


def _within_one_package(cycle: str) -> bool:
    modules = cycle.split(" -> ")
    roots = {m for m in modules if any(o != m and o.startswith(m + ".") for o in modules)}
    return any(all(m == r or m.startswith(r + ".") for m in modules) for r in roots)


def test_a_check_that_reads_the_node_cache_says_so() -> None:
    # A node change wakes the checks whose reads name "nodes" (the daemon); one that reads
    # the cache without saying so would judge a changed node only at its next interval.
    from exporter.checks import CLUSTER_CHECKS, NODE_CHECKS

    for check in (*NODE_CHECKS, *CLUSTER_CHECKS):
        role = "node" if check in NODE_CHECKS else "cluster"
        source = (PACKAGE / "checks" / role / f"{check.module}.py").read_text()
        reads_nodes = ".nodes(" in source
        assert reads_nodes == ("nodes" in check.reads), (
            f"exporter/checks/{role}/{check.module}.py: "
            + (
                'declare reads=frozenset({"nodes"})'
                if reads_nodes
                else "its reads names nodes it never reads"
            )
        )
