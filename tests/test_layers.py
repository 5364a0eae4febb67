"""Layers flow one way and no module imports itself round a cycle (lazy imports inside functions included).

Lowest first: a module may import its own layer or lower ones, never a higher one. `store` sits below `rl`
in import terms (the trainer writes through it) and knows nothing of studies; the study layer resolves a
spec into run folders for it (scaling.study.results)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scaling"

LAYERS = [
    {"scaling", "fsio", "identity", "runtime"},
    {"config"},
    {"tasks", "compute", "model"},
    {"store", "watch"},
    {"rl"},
    {"study"},
    {"fit", "infer", "export"},
    {"plot", "report", "plot_infer", "report_infer"},
    {"cli"},
]
LAYER = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "scaling"


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("scaling"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("scaling"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                out.add(child if child in modules else node.module)
    return out


MODULES = _modules()
GRAPH = {name: _imports(path, MODULES) - {name} for name, path in MODULES.items()}


def test_every_unit_has_a_layer():
    assert {_unit(m) for m in MODULES} <= set(LAYER), "a new top-level module needs a place in LAYERS"


def test_no_module_imports_a_higher_layer():
    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t in targets
             if LAYER[_unit(t)] > LAYER[_unit(m)]]
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    seen: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        seen[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if seen.get(target) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in seen:
                visit(target, path + [target])
        seen[module] = 2

    for module in sorted(MODULES):
        if module not in seen:
            visit(module, [module])


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports(module):
    try:
        importlib.import_module(module)
    except ImportError as err:  # an optional extra (vllm, wandb, reasoning_gym, ...) is not installed
        if (err.name or "").startswith("scaling"):
            raise
        pytest.skip(f"optional dependency {err.name} not installed")
