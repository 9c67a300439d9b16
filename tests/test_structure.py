"""The package's shape: no import circle anywhere (function-level imports included), and a light
``import tan_video`` (no PyAV, Lightning or matplotlib to build a model)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tan_video"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, from the source (every ``import`` statement,
    at any depth: module level, functions, methods). ``from PKG import NAME`` is an edge to the
    module ``PKG.NAME`` when that is a module, else to ``PKG``."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_pkg = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name.split(".")[0] == "tan_video"}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").split(".")[0] == "tan_video":
                    target = node.module
                else:
                    continue
                subs = {f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in files}
                edges |= subs or {target}
                if len(subs) < len(node.names):
                    edges.add(target)
        graph[name] = {e for e in edges if e in files and e != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_cycle_finder_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_sees_function_level_imports():
    graph = import_graph()
    assert "tan_video.training" in graph["tan_video.cli"]  # imported inside a command function only
    assert "tan_video.data.split" in graph["tan_video.training"]


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def run_without_pyav(code: str) -> str:
    """Run ``code`` in a fresh interpreter where any ``import av`` fails; return its stdout."""
    out = subprocess.run([sys.executable, "-c", "import sys; sys.modules['av'] = None\n" + code],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_tan_video_and_build_a_model_without_pyav():
    code = ("import tan_video as tv\n"
            "m = tv.create_model('tan_tiny', num_classes=3)\n"
            "assert not {'lightning', 'matplotlib'} & set(sys.modules), sorted(sys.modules)\n"
            "print(sum(p.numel() for p in m.parameters()))")
    assert int(run_without_pyav(code)) > 0


def test_render_a_synthetic_video_without_pyav():
    from tan_video.data.synthetic import CLASSES
    # only the writer needs PyAV; the classes, painters and render_video do not
    code = ("import numpy as np\n"
            "from tan_video.data import synthetic\n"
            "r = synthetic.render_video(np.random.default_rng(0), frames=8, size=32)\n"
            "print(r.frames.shape, len(synthetic.CLASSES))\n"
            "try:\n    synthetic.generate\nexcept ImportError:\n    print('writer needs PyAV')\n")
    assert run_without_pyav(code).split("\n")[:2] == [f"(8, 32, 32, 3) {len(CLASSES)}", "writer needs PyAV"]


def longest_functions(path: Path, limit: int) -> list[str]:
    """``name: lines`` for every function (nested ones too) longer than ``limit`` lines."""
    tree = ast.parse(path.read_text(), str(path))
    return [f"{node.name}: {node.end_lineno - node.lineno + 1}" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > limit]


def test_the_synthetic_benchmark_has_no_function_over_80_lines():
    found = longest_functions(PACKAGE / "data" / "synthetic" / "render.py", 30)  # the finder itself works
    assert [f.split(":")[0] for f in found] == ["render_video"], found
    long = {p.name: longest_functions(p, 80) for p in (PACKAGE / "data" / "synthetic").glob("*.py")}
    assert not any(long.values()), long
