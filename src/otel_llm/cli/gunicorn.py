"""The doctor's gunicorn check: LiteLLM's gunicorn start-up race, read from LiteLLM's own source.

LiteLLM's gunicorn master starts its query-engine reaper thread before forking workers; a worker
forked while that thread imports a codec hangs (about one start in five). The one-line workaround
(preloading the codec) is in examples/multiworker.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from .findings import OK, WARN, Finding

# LiteLLM's gunicorn launcher: ``_run_gunicorn_server`` in 1.102, ``run_gunicorn_server`` in 1.108 (old name aliased).
_GUNICORN_SERVER_FUNCTIONS = frozenset({"run_gunicorn_server", "_run_gunicorn_server"})


def gunicorn_master_starts_reaper() -> bool | None:
    """Whether the installed LiteLLM starts its query-engine reaper thread in the gunicorn master.

    Read from LiteLLM's source (not its version): None when the source cannot be read or
    has no gunicorn launcher.
    """
    try:
        spec = importlib.util.find_spec("litellm.proxy.proxy_cli")
        if spec is None or not spec.origin:
            return None
        tree = ast.parse(Path(spec.origin).read_text())
    except (ImportError, OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in _GUNICORN_SERVER_FUNCTIONS:
            return any(
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Name | ast.Attribute)
                and (call.func.id if isinstance(call.func, ast.Name) else call.func.attr) == "start_query_engine_reaper"
                for call in ast.walk(node)
            )
    return None


def _ascii_codec_preloaded(env: Mapping[str, str]) -> bool:
    """Whether a Python started with this environment has the ascii codec before any thread."""
    probe = "import sys; print('encodings.ascii' in sys.modules)"
    try:
        result = subprocess.run(
            [sys.executable, "-c", probe], env=dict(env), capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.stdout.strip() == "True"


def check_gunicorn(env: Mapping[str, str], run_gunicorn: bool, workers: int) -> list[Finding]:
    """LiteLLM's gunicorn start-up race: a worker forked while the master's reaper thread imports a codec hangs."""
    if not run_gunicorn:
        return []
    starts_reaper = gunicorn_master_starts_reaper()
    if starts_reaper is False:
        return [Finding(OK, "gunicorn", "this LiteLLM starts no thread in the gunicorn master before it forks")]
    if _ascii_codec_preloaded(env):
        return [
            Finding(
                OK,
                "gunicorn",
                "the ascii codec is loaded at interpreter start: LiteLLM's gunicorn start-up race cannot hang a worker",
            )
        ]
    unsure = " (LiteLLM's source could not be read to tell)" if starts_reaper is None else ""
    return [
        Finding(
            WARN,
            "gunicorn",
            f"--run_gunicorn with {workers} worker(s): this LiteLLM's gunicorn master starts its query-engine "
            "reaper thread just before forking, and a worker forked while that thread imports the ascii codec "
            f"hangs at 'Waiting for application startup.' (about one start in five on our test machine){unsure}",
            "run uvicorn workers (--num_workers without --run_gunicorn: they are spawned, not forked), or put a "
            "sitecustomize.py containing 'import encodings.ascii' in a directory on the proxy's PYTHONPATH",
        )
    ]
