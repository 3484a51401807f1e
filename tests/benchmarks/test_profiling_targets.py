"""benchmarks/profiling.py's ``timers`` wraps otel-llm functions by name: renaming one must fail here,
not leave the profiler silently timing nothing."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _timer_targets() -> list[tuple[str, str | None, str]]:
    spec = importlib.util.spec_from_file_location("bench_profiling", ROOT / "benchmarks" / "profiling.py")
    assert spec is not None and spec.loader is not None
    profiling = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(profiling)
    # TARGETS lives in the sitecustomize source the profiler writes into the proxy's path.
    for node in ast.walk(ast.parse(profiling.TIMERS)):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "TARGETS" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise AssertionError("no TARGETS in profiling.TIMERS")


def test_every_timed_function_exists() -> None:
    targets = _timer_targets()
    assert len(targets) > 10
    for module_name, class_name, function in targets:
        module = importlib.import_module(module_name)
        owner = getattr(module, class_name) if class_name else module
        assert inspect.getattr_static(owner, function, None) is not None, (module_name, class_name, function)
