"""The layer map of ARCHITECTURE.md, enforced: which part of otel-llm may import which."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "otel_llm"
ARCHITECTURE = (Path(__file__).resolve().parent.parent / "ARCHITECTURE.md").read_text()

# The foundation: names, settings, records, the error boundary and the state registry.
BASE = {
    "_names", "_parse", "_settings", "_validation", "_config", "_state", "_errors", "_version",
    "_providers", "_redact", "_record", "_shapes", "package",
}  # fmt: skip
ALLOWED: dict[str, set[str]] = {
    "_record": set(),
    "_shapes": set(),
    "_state": set(),
    "_parse": set(),
    "_settings": {"_parse"},
    "_loop": BASE,
    "_emit": BASE,
    "_export": BASE | {"_emit", "_lifecycle"},
    "_capture": BASE | {"_emit", "_loop"},
    "_budgets": BASE | {"_capture", "_emit"},
    "_lifecycle": BASE | {"_capture", "_emit"},
    "callback": BASE | {"_capture", "_emit", "_lifecycle", "_loop"},
    "instrumentor": BASE | {"_capture", "callback"},
    "testing": BASE | {"_capture", "_lifecycle"},
    "_proxy": BASE | {"_budgets", "_capture", "_emit", "_export", "_loop", "callback", "instrumentor"},
    "proxy": BASE | {"_export", "_proxy"},
    "pipeline": BASE | {"_export", "callback", "instrumentor"},
    "cli": BASE | {"_budgets", "_emit", "_export", "_lifecycle", "_capture", "callback", "instrumentor"},
}


def _part(parts: tuple[str, ...]) -> str:
    return parts[0]


def _imports(path: Path) -> set[str]:
    """The top-level parts of otel_llm that ``path`` imports (at module level or inside functions)."""
    parts = path.relative_to(SRC).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = parts[: len(parts) - node.level] if node.level <= len(parts) else ()
            target = (*base, *(node.module.split(".") if node.module else ()))
            if target:
                found.add(_part(target))
            else:  # from .. import x
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("otel_llm."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("otel_llm."))
    return found


def test_every_part_imports_only_what_the_layer_map_allows() -> None:
    """Capture → record → emit → export: no import goes against the arrows of the layer map."""
    violations = []
    for path in sorted(SRC.rglob("*.py")):
        part = _part(path.relative_to(SRC).with_suffix("").parts)
        allowed = ALLOWED.get(part)
        if allowed is None:
            continue  # the package's own __init__ and __main__ may import anything public
        for target in sorted(_imports(path) - {part} - allowed):
            violations.append(f"{path.relative_to(SRC)} imports {target}")
    assert not violations, violations


def test_the_layer_map_names_every_part() -> None:
    """ARCHITECTURE.md describes every part the map constrains."""
    missing = [part for part in ALLOWED if f"`{part}" not in ARCHITECTURE]
    assert not missing, missing


def test_the_state_table_lists_every_holder() -> None:
    """ARCHITECTURE.md's table of process-wide state names every holder registered with _state."""
    import otel_llm.callback  # registers the holders
    import otel_llm.instrumentor  # noqa: F401
    from otel_llm import _state

    missing = [h.name for h in _state.holders() if f"| {h.name} |" not in ARCHITECTURE]
    assert not missing, missing


def _public_modules() -> list[Path]:
    """The modules whose names carry no leading underscore: the package's public surface."""
    return [
        path
        for path in sorted(SRC.rglob("*.py"))
        if not any(
            part.startswith("_") and part not in ("__init__.py", "__main__.py") for part in path.relative_to(SRC).parts
        )
    ]


def test_every_public_function_and_class_is_documented() -> None:
    """Public modules (callback, instrumentor, proxy, testing, package, cli): every public function,
    class and method has a docstring."""
    missing = []
    for path in _public_modules():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            members = [node]
            if isinstance(node, ast.ClassDef):
                members += [n for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            for member in members:
                is_def = isinstance(member, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                if is_def and not member.name.startswith("_") and ast.get_docstring(member) is None:
                    missing.append(f"{path.relative_to(SRC)}:{member.lineno} {member.name}")
    assert not missing, missing


def test_code_crosses_into_the_host_through_the_one_boundary() -> None:
    """No hand-written try/except around _errors.report: every boundary is _errors.boundary or guarded."""
    sites = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*.py"))
        if path.name != "_errors.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "_errors.report(" in line
    ]
    assert not sites, sites
