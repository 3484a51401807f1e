"""The ``otel-llm`` command: ``otel-llm demo`` and ``otel-llm doctor``."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

# The Collector of collector/docker-compose.yml (service otel-collector), as published on the host.
DEFAULT_OTLP = "http://localhost:4318"


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    return parse


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported (an optional exporter package is installed)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package
        return False


def _missing_exporter(otlp: str | None) -> str | None:
    """What the demo cannot run without, and how to install it (None when all is there)."""
    if otlp:  # as demo.py decides
        if module_available("opentelemetry.exporter.otlp.proto.http"):
            return None
        return "the OTLP exporter is missing: pip install 'otel-llm[otlp]' (or leave out --otlp)"
    if module_available("opentelemetry.exporter.prometheus"):
        return None
    return "the Prometheus exporter is missing: pip install 'otel-llm[prometheus]' (or use --otlp)"


def parser() -> argparse.ArgumentParser:
    """The ``otel-llm`` command line: ``demo`` and ``doctor``."""
    root = argparse.ArgumentParser(prog="otel-llm", description="OpenTelemetry for LiteLLM.")
    commands = root.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="run agents on a local fake provider and report what otel-llm saw")
    demo.add_argument("--duration", type=_positive(float), default=20.0, help="seconds of traffic (default 20)")
    demo.add_argument("--rate", type=_positive(float), default=20.0, help="requests per second (default 20)")
    demo.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same traffic")
    demo.add_argument(
        "--otlp",
        metavar="ENDPOINT",
        nargs="?",
        const=DEFAULT_OTLP,
        help=f"send spans and metrics over OTLP/HTTP to a Collector instead (alone: {DEFAULT_OTLP}, the "
        "otel-collector service collector/docker-compose.yml publishes on this host)",
    )
    demo.add_argument(
        "--prometheus-port", type=int, default=9464, help="port of the live metrics endpoint (0: any free port)"
    )
    demo.add_argument("--report-json", type=Path, help="also write the report as JSON to this file")
    doctor = commands.add_parser("doctor", help="check a LiteLLM proxy deployment and say what to fix")
    doctor.add_argument("--config", type=Path, help="the proxy's config.yaml")
    doctor.add_argument("--workers", type=_positive(int), help="number of proxy workers (default: NUM_WORKERS or 1)")
    doctor.add_argument(
        "--run_gunicorn",
        "--run-gunicorn",
        action="store_true",
        help="the proxy runs with LiteLLM's --run_gunicorn (checks LiteLLM's gunicorn start-up race)",
    )
    return root


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``otel-llm`` console script."""
    args = parser().parse_args(argv)
    # LiteLLM downloads its model price map at import unless told to use its bundled copy.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if args.command == "demo":
        missing = _missing_exporter(args.otlp)
        if missing:
            print(f"otel-llm demo: {missing}", file=sys.stderr)
            return 2
        from . import demo  # noqa: PLC0415

        # The demo's virtual keys are made up: a fixed salt keeps their hashes stable between runs.
        os.environ.setdefault("OTEL_LLM_KEY_HASH_SALT", "otel-llm-demo")
        try:
            return demo.run(args.duration, args.rate, args.seed, args.otlp, args.prometheus_port, args.report_json)
        except OSError as error:
            print(
                f"otel-llm demo: {error}. Is port {args.prometheus_port} in use? Try --prometheus-port 0.",
                file=sys.stderr,
            )
            return 2
    from . import doctor  # noqa: PLC0415

    code, findings = doctor.run(args.config, workers=args.workers, run_gunicorn=args.run_gunicorn)
    for finding in findings:
        print(finding.render())
    errors = sum(1 for f in findings if f.level == doctor.ERROR)
    print(f"\n{errors} error(s), {sum(1 for f in findings if f.level == doctor.WARN)} warning(s).")
    return code
