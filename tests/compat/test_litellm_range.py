"""The supported LiteLLM range, tested at its ends, not only at the version CI pins.

``pip install 'otel-llm[instruments]'`` accepts any LiteLLM in ``otel_llm.package._instruments``,
and otel-llm reads LiteLLM's payloads, Router metadata and proxy hooks, which change between
releases. The main suite runs on the pinned LiteLLM (constraints.txt); this module runs the
fast suite and the proxy end-to-end tests again in a virtualenv per lock file in this
directory (``litellm-<version>.txt``: the oldest supported release and the newest one that
installs here), created once in ``.venv-compat/`` and reused while the lock is unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from otel_llm.package import _instruments


def _version(lock: Path) -> str:
    """The LiteLLM version a lock file is named after (``litellm-<version>.txt``)."""
    return lock.stem.split("-", 1)[1]


ROOT = Path(__file__).resolve().parents[2]
LOCKS = sorted(Path(__file__).parent.glob("litellm-*.txt"), key=lambda lock: Version(_version(lock)))
VENVS = ROOT / ".venv-compat"
# The end-to-end tests of the real `litellm` proxy process (one and several workers, uvicorn and
# gunicorn, loop guard, the example config), of exit flushing and of the CLI; not the Collector
# stack's (they test collector/, not LiteLLM) nor the benchmark's (it pins its own LiteLLM).
PROXY_TESTS = ("tests/proxy", "tests/test_exit.py", "tests/cli")


def _run(
    command: list[str], timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd)


def compat_venv(lock: Path) -> Path:
    """A virtualenv with exactly the lock's packages and this checkout of otel-llm (editable)."""
    venv = VENVS / lock.stem
    stamp = venv / "lock.sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and (venv / "bin" / "python").exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    steps = (
        [sys.executable, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(lock)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(ROOT)],
    )
    for step in steps:
        done = _run(step, timeout=900)
        assert done.returncode == 0, f"{' '.join(step)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    stamp.write_text(digest)
    return venv


def test_locks_span_the_supported_range() -> None:
    """The oldest lock is the range's lower bound and every lock is inside the range."""
    specifier = Requirement(_instruments[0]).specifier
    versions = [_version(lock) for lock in LOCKS]
    assert len(versions) >= 2, versions
    assert all(version in specifier for version in versions), (versions, specifier)
    lower = next(s.version for s in specifier if s.operator == ">=")
    assert versions[0] == lower


@pytest.mark.e2e
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.stem)
def test_suite_passes_on_litellm(lock: Path) -> None:
    """The fast suite and the proxy end-to-end tests pass on this LiteLLM."""
    python = str(compat_venv(lock) / "bin" / "python")
    installed = _run([python, "-c", "import importlib.metadata as m; print(m.version('litellm'))"], timeout=60)
    assert installed.stdout.strip() == _version(lock), installed.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    pytest_args = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    for selection in (["-m", "not e2e and not slow", "tests"], ["-m", "e2e", *PROXY_TESTS]):
        done = _run([*pytest_args, *selection], timeout=1500, cwd=ROOT, env=env)
        assert done.returncode == 0, f"LiteLLM {_version(lock)}, {' '.join(selection)}:\n{done.stdout[-8000:]}"
