"""One command for every otel-llm benchmark: ``python benchmarks/run.py`` (see benchmarks/README.md).

Creates (or reuses) the isolated benchmark environment ``benchmarks/.venv`` from the pinned
``benchmarks/requirements.txt`` plus otel-llm from this repository (editable), then runs:

1. ``sdk``: per-call overhead of LiteLLM SDK calls, every configuration in its own process,
   interleaved in short blocks over several rounds (sdk_worker.py);
2. ``micro``: otel-llm's record + emit path versus raw SDK calls (microbench.py);
3. ``cardinality``: one million calls over 100,000 end users and 1,000 keys (cardinality.py);
   ``churn``: 200,000 calls over 20,000 keys that come and go, on the lean path (churn.py);
4. ``proxy``: the real LiteLLM proxy with and without the callback (proxy_bench.py);
5. ``proxy-stream``: the same with streamed responses of STREAM_CHUNKS chunks each (how agents
   such as Claude Code call the gateway);

and writes ``benchmarks/results/latest.md`` (the Markdown tables, also printed) and
``benchmarks/results/latest.json`` (every raw number). ``--smoke`` is the few-seconds version
the test suite runs; ``--no-setup`` uses the running interpreter instead of benchmarks/.venv
(peers that are not installed there are skipped, and said so).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _procs import ROOT, FakeProvider, Worker, run_json  # noqa: E402
from report import CONFIG_NAMES, render  # noqa: E402

# Streamed responses in the proxy section: a few paragraphs of an agent's answer, one token a chunk.
STREAM_CHUNKS = 100
STREAM_VARIANTS = "none,otel-llm,otel-llm-process,noop-callback,floor,litellm-otel"
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"
PEER_MODULES = {
    "openllmetry": "opentelemetry.instrumentation.litellm",
    "openinference": "openinference.instrumentation.litellm",
    "openlit": "openlit",
}
SCENARIOS = ("sync", "async", "stream", "embedding", "router_fallback")
# Calls per block (per configuration, round, path and scenario): a block is well under a second.
BLOCK = {"sync": 100, "async": 100, "stream": 20, "embedding": 100, "router_fallback": 20}
WARMUP = 20
# (label, OTEL_LLM_METRIC_ATTRIBUTION, pairing of end users with keys): see cardinality.py.
CARDINALITY_VARIANTS = (
    ("default", "key,team", "stable"),
    ("end_user_random", "key,team,end_user", "random"),
)
VERSIONS = """
import importlib.metadata as m, json
names = ["litellm", "opentelemetry-sdk", "otel-llm", "opentelemetry-instrumentation-litellm",
         "openinference-instrumentation-litellm", "openlit", "openai"]
found = {}
for name in names:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
print(json.dumps(found))
"""


def ensure_env() -> tuple[str, float]:
    """benchmarks/.venv from requirements.txt (recreated when the lock changes); (python, seconds)."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return str(python), 0.0
    started = time.monotonic()
    print(f"[setup] creating {VENV} from {REQUIREMENTS.name} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
    subprocess.run([*pip, "--no-deps", "--editable", str(ROOT)], check=True)
    stamp.write_text(digest + "\n")
    elapsed = time.monotonic() - started
    print(f"[setup] done in {elapsed:.0f} s", file=sys.stderr, flush=True)
    return str(python), elapsed


def available_configs(python: str, wanted: list[str]) -> tuple[list[str], list[str]]:
    probe = (
        "import importlib.util, json, sys\n"
        "def has(m):\n"
        "    try:\n"
        "        return importlib.util.find_spec(m) is not None\n"
        "    except ImportError:\n"
        "        return False\n"
        "print(json.dumps({m: has(m) for m in sys.argv[1:]}))"
    )
    found = json.loads(subprocess.check_output([python, "-c", probe, *PEER_MODULES.values()], text=True))
    usable, skipped = [], []
    for name in wanted:
        module = PEER_MODULES.get(name)
        (usable if module is None or found[module] else skipped).append(name)
    return usable, skipped


def run_sdk(
    python: str,
    configs: list[str],
    paths: list[str],
    scenarios: list[str],
    rounds: int,
    block: dict[str, int],
    log_dir: Path,
) -> dict[str, Any]:
    fake = FakeProvider(python)
    workers: dict[str, Worker] = {}
    started = time.monotonic()
    try:
        workers = {name: Worker(python, name, fake.url, log_dir) for name in configs}
        for worker in workers.values():
            ready = worker.ready()
            if not ready.get("ready"):
                raise RuntimeError(f"{worker.config} failed to start: {ready.get('error')}")
        startup_s = time.monotonic() - started
        describe: dict[str, dict[str, Any]] = {}
        for path in paths:
            for scenario in scenarios:
                for name, worker in workers.items():
                    warm = worker.send(
                        cmd="warmup", path=path, scenario=scenario, n=max(2, min(WARMUP, block[scenario]))
                    )
                    describe.setdefault(name, {})[f"{path}/{scenario}"] = warm
        samples: list[dict[str, Any]] = []
        rng = random.Random(20261125)
        for round_index in range(rounds):
            for path in paths:
                for scenario in scenarios:
                    order = list(workers)
                    rng.shuffle(order)
                    for name in order:
                        result = workers[name].send(cmd="block", path=path, scenario=scenario, n=block[scenario])
                        samples.append(
                            {"round": round_index, "path": path, "scenario": scenario, "config": name, **result}
                        )
            print(f"[sdk] round {round_index + 1}/{rounds} done", file=sys.stderr, flush=True)
        return {
            "samples": samples,
            "describe": describe,
            "startup_s": startup_s,
            "elapsed_s": time.monotonic() - started,
            "rounds": rounds,
            "block": block,
        }
    finally:
        with ThreadPoolExecutor(max(1, len(workers))) as pool:
            list(pool.map(lambda w: w.stop(), workers.values()))
        fake.stop()


def _git(*args: str) -> str:
    try:
        return subprocess.check_output(["git", "-C", str(ROOT), *args], text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="a few calls per configuration (CI)")
    parser.add_argument("--no-setup", action="store_true", help="use this interpreter, not benchmarks/.venv")
    parser.add_argument("--sections", default="sdk,micro,cardinality,churn,proxy,proxy-stream")
    parser.add_argument("--configs", default=",".join(CONFIG_NAMES))
    parser.add_argument("--paths", default="mock,http")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--rounds", type=int, help="SDK rounds (default 10, smoke 1)")
    parser.add_argument("--cardinality-calls", type=int, help="default 1,000,000 (smoke 3,000)")
    parser.add_argument("--proxy-rounds", type=int, help="default 4 (smoke 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="where latest.md/latest.json go")
    args = parser.parse_args()

    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    started = time.monotonic()
    setup_s = 0.0
    if args.no_setup:
        python = sys.executable
    else:
        python, setup_s = ensure_env()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    sections = set(args.sections.split(","))
    section_started: dict[str, float] = {}
    smoke = args.smoke
    wanted = [c for c in args.configs.split(",") if c]
    configs, skipped = available_configs(python, wanted)
    results: dict[str, Any] = {
        "smoke": smoke,
        "python": python,
        "setup_s": setup_s,
        "skipped_configs": skipped,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    versions = subprocess.check_output([python, "-c", VERSIONS], text=True)
    results["versions"] = json.loads(versions)
    results["otel_llm_commit"] = _git("rev-parse", "--short", "HEAD")
    results["otel_llm_dirty"] = sorted(
        line.split(None, 1)[-1] for line in _git("status", "--porcelain", "--", "src").splitlines() if line.strip()
    )
    if "sdk" in sections:
        section_started["sdk"] = time.monotonic()
        block = {s: 3 for s in SCENARIOS} if smoke else dict(BLOCK)
        results["sdk"] = run_sdk(
            python,
            configs,
            args.paths.split(","),
            args.scenarios.split(","),
            args.rounds or (1 if smoke else 10),
            block,
            log_dir,
        )
    if "micro" in sections:
        section_started["micro"] = time.monotonic()
        micro_args = ["--n", "200", "--rounds", "2"] if smoke else ["--profile", str(out / "profile-record-emit.txt")]
        results["micro"] = run_json(python, "microbench.py", micro_args, 900, log_dir / "microbench.log")
    if "cardinality" in sections:
        section_started["cardinality"] = time.monotonic()
        calls = args.cardinality_calls or (3000 if smoke else 1_000_000)
        every = max(1, calls // 10)
        results["cardinality"] = {}
        for label, attribution, pairing in CARDINALITY_VARIANTS:
            card_args = ["--calls", str(calls), "--every", str(every), "--attribution", attribution]
            card_args += ["--pairing", pairing]
            log = log_dir / f"cardinality-{label}.log"
            results["cardinality"][label] = run_json(python, "cardinality.py", card_args, 3600, log)
    if "churn" in sections:
        section_started["churn"] = time.monotonic()
        churn_args = ["--calls", "3000", "--keys", "600", "--active", "50", "--every", "500"] if smoke else []
        if smoke:
            churn_args += ["--seconds-per-call", "1", "--idle-timeout", "300"]
        results["churn"] = run_json(python, "churn.py", churn_args, 3600, log_dir / "churn.log")
    if "proxy" in sections:
        section_started["proxy"] = time.monotonic()
        rounds = args.proxy_rounds or (1 if smoke else 4)
        proxy_args = ["--rounds", str(rounds), "--workdir", str(out / "proxy")]
        if smoke:
            proxy_args += ["--requests", "20", "--duration", "5", "--warmup", "5", "--settle", "1"]
            proxy_args += ["--variants", "none,otel-llm,otel-llm-process,otel-llm-unreachable,floor"]
        results["proxy"] = run_json(python, "proxy_bench.py", proxy_args, 1800, log_dir / "proxy.log")
    if "proxy-stream" in sections:
        section_started["proxy-stream"] = time.monotonic()
        rounds = args.proxy_rounds or (1 if smoke else 4)
        chunks = 10 if smoke else STREAM_CHUNKS
        stream_args = ["--rounds", str(rounds), "--workdir", str(out / "proxy-stream"), "--stream-chunks", str(chunks)]
        if smoke:
            stream_args += ["--requests", "10", "--duration", "5", "--warmup", "3", "--settle", "1"]
            stream_args += ["--variants", "none,otel-llm"]
        else:
            stream_args += ["--warmup", "50", "--variants", STREAM_VARIANTS]
        log = log_dir / "proxy-stream.log"
        results["proxy_stream"] = run_json(python, "proxy_bench.py", stream_args, 1800, log)
    marks = [*sorted(section_started.items(), key=lambda item: item[1]), ("end", time.monotonic())]
    results["section_s"] = {name: round(marks[i + 1][1] - at, 1) for i, (name, at) in enumerate(marks[:-1])}
    results["elapsed_s"] = time.monotonic() - started
    (out / "latest.json").write_text(json.dumps(results, indent=1))
    markdown = render(results)
    (out / "latest.md").write_text(markdown)
    sys.stdout.write(markdown)


if __name__ == "__main__":
    main()
