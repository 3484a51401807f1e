"""The supported LiteLLM releases, tested at the range's ends and at the newest the registry serves.

otel-llm sets no upper bound on LiteLLM (``otel_llm.package``): installing it never changes the
host's LiteLLM. otel-llm reads LiteLLM's payloads, Router metadata, proxy hooks and logging worker,
which change between releases, so the main suite's pinned LiteLLM (constraints.txt) is not enough:
this module runs the fast suite and the LiteLLM-facing end-to-end tests again

* on each lock file here (``litellm-<version>.txt``: the oldest supported release and the newest
  tested one, ``otel_llm.package.TESTED``), each in its own virtualenv in ``.venv-compat/``;
* on the newest LiteLLM release the package registry serves, found at test time: the top lock's
  packages with that LiteLLM installed over them (and what it needs), falling back release by
  release to the newest that installs here. When that is the top lock's, it is tested once.

Each virtualenv is built with ``uv`` (from PyPI, in the test extra; pip when missing), once, and
reused while its lock (or the newest release) is unchanged. otel-llm goes in last with its
``instruments`` extra *and its dependencies*: the LiteLLM version must not change.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version

from otel_llm.package import TESTED, _instruments


def _version(lock: Path) -> str:
    """The LiteLLM version a lock file is named after (``litellm-<version>.txt``)."""
    return lock.stem.split("-", 1)[1]


ROOT = Path(__file__).resolve().parents[2]
LOCKS = sorted(Path(__file__).parent.glob("litellm-*.txt"), key=lambda lock: Version(_version(lock)))
VENVS = ROOT / ".venv-compat"
# The end-to-end tests that face LiteLLM, and only those (each version pays for them): the real
# `litellm` proxy process (one and several workers, the loop guard, the example config), exit
# flushing and a worker running asyncio.run per job (LiteLLM's logging worker). Not the CLI's
# (the doctor's LiteLLM finding is in the fast suite), the multi-worker example's (uvicorn and
# gunicorn deployment shapes, run on the pinned LiteLLM), the Collector stack's or the benchmark's.
PROXY_TESTS = (
    "tests/proxy/test_proxy.py",
    "tests/proxy/test_proxy_loops.py",
    "tests/proxy/test_proxy_workers.py",
    "tests/proxy/test_proxy_example.py",
    "tests/test_exit.py",
    "tests/test_job_end.py",
)
# Releases newer than the top lock tried, newest first, before settling on the top lock's.
NEWEST_TRIES = 3


def _run(
    command: list[str], timeout: float, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False, env=env, cwd=cwd)


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def _install(venv: Path, *args: str) -> list[str]:
    """The command that installs ``args`` into ``venv`` (uv's, or the venv's own pip)."""
    uv = _uv()
    if uv is not None:
        return [uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), *args]
    return [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args]


def _create(venv: Path) -> list[str]:
    uv = _uv()
    if uv is not None:
        return [uv, "venv", "--quiet", "--python", sys.executable, str(venv)]
    return [sys.executable, "-m", "venv", str(venv)]


def _installed_litellm(venv: Path) -> str:
    done = _run([str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"], 60)
    return done.stdout.strip()


def _build(venv: Path, digest: str, steps: list[list[str]], litellm: str) -> str | None:
    """Build ``venv`` with ``steps`` unless already built for ``digest``; None, or why it failed."""
    stamp = venv / "build.sha256"
    if stamp.exists() and stamp.read_text() == digest and (venv / "bin" / "python").exists():
        return None
    shutil.rmtree(venv, ignore_errors=True)
    started = time.monotonic()
    # Last: otel-llm with its dependencies. It must leave the LiteLLM it found alone.
    for step in [_create(venv), *steps, _install(venv, "-e", f"{ROOT}[instruments]")]:
        done = _run(step, timeout=900)
        if done.returncode != 0:
            return f"{' '.join(step)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    installed = _installed_litellm(venv)
    if installed != litellm:
        return f"installing otel-llm changed LiteLLM {litellm} to {installed!r}"
    stamp.write_text(digest)
    print(f"built {venv.name} in {time.monotonic() - started:.0f} s")  # shown with -s
    return None


def compat_venv(lock: Path) -> Path:
    """A virtualenv with exactly the lock's packages and this checkout of otel-llm (editable)."""
    venv = VENVS / lock.stem
    digest = hashlib.sha256(lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes()).hexdigest()
    failure = _build(venv, digest, [_install(venv, "--no-deps", "-r", str(lock))], _version(lock))
    assert failure is None, failure
    return venv


def registry_releases() -> list[str]:
    """LiteLLM's final releases the package registry serves, newest first."""
    done = _run([sys.executable, "-m", "pip", "index", "versions", "litellm"], timeout=120)
    match = re.search(r"Available versions: (.+)", done.stdout)
    assert match, f"pip index versions litellm:\n{done.stdout}\n{done.stderr}"
    releases = []
    for text in match.group(1).split(", "):
        try:
            version = Version(text.strip())
        except InvalidVersion:
            continue
        if not version.is_prerelease and str(version) not in ("1.82.7", "1.82.8"):
            releases.append(version)
    return [str(v) for v in sorted(releases, reverse=True)]


def newest_venv() -> tuple[str, Path | None, list[str]]:
    """(the newest LiteLLM that installs here, its virtualenv or None when it is the top lock's,
    why the newer ones did not install)."""
    top = LOCKS[-1]
    newer = [v for v in registry_releases() if Version(v) > Version(_version(top))][:NEWEST_TRIES]
    failures = []
    for version in newer:
        venv = VENVS / "litellm-newest"
        digest = hashlib.sha256(top.read_bytes() + version.encode()).hexdigest()
        steps = [
            _install(venv, "--no-deps", "-r", str(top)),
            # The new release over the top lock: its new dependencies come along, the rest stays.
            _install(venv, f"litellm=={version}"),
        ]
        failure = _build(venv, digest, steps, version)
        if failure is None:
            return version, venv, failures
        failures.append(f"LiteLLM {version}: {failure[-600:]}")
    return _version(top), None, failures


def test_locks_span_the_supported_range() -> None:
    """The oldest lock is the range's lower bound, the newest is the newest tested release, and
    the range has no upper bound: installing otel-llm never downgrades the host's LiteLLM."""
    specifier = Requirement(_instruments[0]).specifier
    versions = [_version(lock) for lock in LOCKS]
    assert len(versions) >= 2, versions
    assert all(version in specifier for version in versions), (versions, specifier)
    lower = next(s.version for s in specifier if s.operator == ">=")
    assert versions[0] == lower == TESTED[0]
    assert versions[-1] == TESTED[1]
    assert not [s for s in specifier if s.operator in ("<", "<=", "~=", "==")], specifier
    extras = (ROOT / "pyproject.toml").read_text()
    assert 'litellm>=1.102.4,!=1.82.7,!=1.82.8"' in extras and "<1.1" not in extras


def _suite(python: str, litellm: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    pytest_args = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    for selection in (["-m", "not e2e and not slow", "tests"], ["-m", "e2e", *PROXY_TESTS]):
        done = _run([*pytest_args, *selection], timeout=1500, cwd=ROOT, env=env)
        assert done.returncode == 0, f"LiteLLM {litellm}, {' '.join(selection)}:\n{done.stdout[-8000:]}"


@pytest.mark.e2e
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("lock", LOCKS, ids=lambda lock: lock.stem)
def test_suite_passes_on_litellm(lock: Path) -> None:
    """The fast suite and the LiteLLM-facing end-to-end tests pass on this LiteLLM."""
    python = str(compat_venv(lock) / "bin" / "python")
    assert _installed_litellm(Path(python).parents[1]) == _version(lock)
    _suite(python, _version(lock))


@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_suite_passes_on_the_newest_litellm() -> None:
    """The same on the newest LiteLLM release that installs from the registry (every CI run)."""
    version, venv, failures = newest_venv()
    print(f"newest LiteLLM that installs here: {version}; newer ones that did not: {failures or 'none'}")
    if venv is None:
        pytest.skip(f"the newest LiteLLM that installs here, {version}, is the top lock's: tested above")
    _suite(str(venv / "bin" / "python"), version)
