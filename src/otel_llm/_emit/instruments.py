"""Every metric otel-llm records: one table (name, kind, unit, buckets, description), two sinks.

``Instruments`` records through otel-llm's own store (``store.MetricStore``) where otel-llm
built the pipeline, and through the SDK's instruments on providers the application owns
(whose cumulative series the SDK keeps for the life of the process). Gauges live in a store
in both cases: on SDK providers they are observable instruments reading it.
"""

from __future__ import annotations

import functools
import logging
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Protocol

from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from .. import _names as n
from .series import AttrKey, Spec
from .store import Instrument, MetricStore

_log: Final = logging.getLogger("otel_llm")

AttributeValue = str | bool | int | float | tuple[str, ...]

# The GenAI conventions' advisory buckets.
DURATION_BUCKETS: Final = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS: Final = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
TIME_TO_FIRST_CHUNK_BUCKETS: Final = (
    *(0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1),
    *(0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0),
)
TIME_PER_OUTPUT_CHUNK_BUCKETS: Final = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
# USD per call: from a fraction of a cent (small embeddings) to tens of dollars (long reasoning runs).
COST_BUCKETS: Final = (
    *(0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01),
    *(0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 50.0),
)

# Attributes bounded by construction: kept on a metric's overflow series when its series cap is hit.
BOUNDED: Final = frozenset(
    {
        n.GEN_AI_OPERATION_NAME,
        n.GEN_AI_PROVIDER_NAME,
        n.ERROR_TYPE,
        n.GEN_AI_TOKEN_TYPE,
        n.TOKEN_TYPE,
        n.COST_COMPONENT,
        n.ACCOUNTING_ISSUE,
        n.LOOP_REASON,
        n.LOOP_ACTION,
        n.HTTP_RESPONSE_STATUS_CODE,
        n.INTERNAL_COMPONENT,
        n.OVERFLOW_METRIC_NAME,
        n.OVERFLOW_ATTRIBUTE,
        n.MCP_METHOD_NAME,
        n.MCP_SERVER_TRANSPORT,
        n.RPC_RESPONSE_STATUS_CODE,
        n.REFUSAL_REASON,
        n.GUARDRAIL_MODE,
        n.GUARDRAIL_DECISION,
    }
)


def _histogram(name: str, unit: str, description: str, buckets: tuple[float, ...]) -> Spec:
    return Spec(name, "histogram", unit, description, tuple(float(b) for b in buckets), bounded=BOUNDED)


def _counter(name: str, unit: str, description: str) -> Spec:
    return Spec(name, "counter", unit, description, bounded=BOUNDED)


DURATION: Final = _histogram(n.GEN_AI_CLIENT_OPERATION_DURATION, "s", "GenAI operation duration.", DURATION_BUCKETS)
TOKEN_USAGE: Final = _histogram(
    n.GEN_AI_CLIENT_TOKEN_USAGE, "{token}", "Number of input and output tokens used.", TOKEN_BUCKETS
)
TIME_TO_FIRST_CHUNK: Final = _histogram(
    n.GEN_AI_CLIENT_TIME_TO_FIRST_CHUNK,
    "s",
    "Time to receive the first chunk of a streamed response.",
    TIME_TO_FIRST_CHUNK_BUCKETS,
)
TIME_PER_OUTPUT_CHUNK: Final = _histogram(
    n.GEN_AI_CLIENT_TIME_PER_OUTPUT_CHUNK,
    "s",
    "Time between consecutive chunks of a streamed response, after the first.",
    TIME_PER_OUTPUT_CHUNK_BUCKETS,
)
COST: Final = _histogram(
    n.COST_METRIC,
    "USD",
    "Cost of GenAI operations in USD, as priced by LiteLLM (its sum by model group, team and agent).",
    COST_BUCKETS,
)
REQUESTS: Final = _counter(
    n.REQUESTS_METRIC, "{request}", "LLM attempts by who made them and how they ended (error.type on failures)."
)
SPEND: Final = _counter(n.SPEND_METRIC, "USD", "USD spent, as priced by LiteLLM, by who spent it (exact per key).")
TOKENS: Final = _counter(
    n.TOKENS_METRIC,
    "{token}",
    "Tokens by who used them and type: input and output (cache reads and creation are part of input, "
    "reasoning part of output).",
)
COMPONENT_SPEND: Final = _counter(
    n.COMPONENT_SPEND_METRIC, "USD", "USD by cost component (LiteLLM's breakdown), model group, team and agent."
)
CACHE_SAVINGS: Final = _counter(
    n.CACHE_SAVINGS_METRIC,
    "USD",
    "USD prompt-cache reads saved: what they would have cost at the model's input price, less what they cost.",
)
RETRIES: Final = _counter(n.RETRIES_METRIC, "{retry}", "Router retries of a model group after a failed attempt.")
FALLBACKS: Final = _counter(n.FALLBACKS_METRIC, "{fallback}", "Router fallbacks from one model group to another.")
ACCOUNTING_ISSUES: Final = _counter(
    n.ACCOUNTING_ISSUES_METRIC,
    "{call}",
    "Calls whose tokens or cost are not what the provider billed (estimated, missing, unpriced).",
)
LOOP_DETECTIONS: Final = _counter(
    n.LOOP_DETECTIONS_METRIC, "{detection}", "Runaway agent loops detected (once per episode), by reason and action."
)
LOOP_REFUSALS: Final = _counter(
    n.LOOP_REFUSALS_METRIC,
    "{request}",
    "Calls refused by the loop guard (OTEL_LLM_LOOP_MODE=block) during a cool-down.",
)
PROXY_REFUSALS: Final = _counter(
    n.PROXY_REFUSALS_METRIC,
    "{request}",
    "Requests the LiteLLM proxy refused before calling any provider, MCP tool or agent (authentication, unknown "
    "model, tool or agent permission, budget, rate limit, guardrail, loop guard), by operation.",
)
INTERNAL_ERRORS: Final = _counter(
    n.INTERNAL_ERRORS_METRIC, "{error}", "Errors inside otel-llm (telemetry lost, call unaffected)."
)
METRIC_OVERFLOW: Final = _counter(
    n.METRIC_OVERFLOW_METRIC,
    "{point}",
    "Points a cardinality cap reported as _OTHER, by metric and attribute ((series) for a metric's series cap).",
)

# The gateway's hops: MCP operations and tool calls, guardrail evaluations, agent-to-agent calls.
# The MCP conventions' advisory buckets.
MCP_DURATION_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
# Guardrails run from tens of microseconds (a local keyword filter) to seconds (a remote judge).
GUARDRAIL_BUCKETS: Final = (
    *(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01),
    *(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
MCP_OPERATION_DURATION: Final = _histogram(
    n.MCP_SERVER_OPERATION_DURATION,
    "s",
    "MCP operations the proxy served (tools/call, tools/list, prompts, resources), received to answered, by "
    "method, tool, upstream server, team and agent (error.type on failures; refusals are not failures).",
    MCP_DURATION_BUCKETS,
)
MCP_TOOL_CALLS: Final = _counter(
    n.MCP_TOOL_CALLS_METRIC,
    "{call}",
    "MCP tool calls the proxy served, by who called, tool and upstream server (error.type on failures; calls "
    "the proxy refused are counted in otel_llm.proxy.refusals instead).",
)
MCP_TOOL_SPEND: Final = _counter(
    n.MCP_TOOL_SPEND_METRIC, "USD", "USD of MCP tool calls, as LiteLLM's MCP cost tracking prices them, by who."
)
GUARDRAIL_DURATION: Final = _histogram(
    n.GUARDRAIL_DURATION_METRIC,
    "s",
    "Time each guardrail evaluation added, by guardrail, mode, decision and team.",
    GUARDRAIL_BUCKETS,
)
GUARDRAIL_EVALUATIONS: Final = _counter(
    n.GUARDRAIL_EVALUATIONS_METRIC,
    "{evaluation}",
    "Guardrail evaluations by guardrail, mode, decision (pass, block, mask, flag, error) and who was guarded.",
)
AGENT_CALL_DURATION: Final = _histogram(
    n.AGENT_CALL_DURATION_METRIC,
    "s",
    "Agent-to-agent (A2A) calls the proxy routed, by agent, team and error.type.",
    DURATION_BUCKETS,
)
AGENT_CALLS: Final = _counter(
    n.AGENT_CALLS_METRIC, "{call}", "Agent-to-agent (A2A) calls the proxy routed, by who called and agent."
)

HISTOGRAMS: Final = (
    *(DURATION, TOKEN_USAGE, TIME_TO_FIRST_CHUNK, TIME_PER_OUTPUT_CHUNK, COST),
    *(MCP_OPERATION_DURATION, GUARDRAIL_DURATION, AGENT_CALL_DURATION),
)
COUNTERS: Final = (
    *(REQUESTS, SPEND, TOKENS, COMPONENT_SPEND, CACHE_SAVINGS, RETRIES, FALLBACKS, ACCOUNTING_ISSUES),
    *(LOOP_DETECTIONS, LOOP_REFUSALS, PROXY_REFUSALS, INTERNAL_ERRORS, METRIC_OVERFLOW),
    *(MCP_TOOL_CALLS, MCP_TOOL_SPEND, GUARDRAIL_EVALUATIONS, AGENT_CALLS),
)


class AttrSet:
    """One attribute set, as the SDK takes it (a mapping) and as the store keys it (sorted items)."""

    __slots__ = ("admitted", "key", "mapping")

    def __init__(self, mapping: Mapping[str, AttributeValue]) -> None:
        self.mapping = mapping
        self.key: AttrKey = tuple(sorted(mapping.items()))
        # The SDK recorders that admitted this set as one of their series (a set is reused for
        # every call of its kind: no hashing of the key per point once admitted).
        self.admitted: set[object] | None = None


class Recorder(Protocol):
    def __call__(self, value: float, attrs: AttrSet, context: Context | None = None) -> None: ...


class ManyRecorder(Protocol):
    def __call__(self, values: Sequence[float], attrs: AttrSet, context: Context | None = None) -> None: ...


def _many(recorder: Recorder, instrument: Instrument | None) -> ManyRecorder:
    """A histogram's measurements of one call, in order: through the store at once, else one by one."""
    if instrument is not None:
        record_many = instrument.record_many

        def record_all(values: Sequence[float], attrs: AttrSet, context: Context | None = None) -> None:
            record_many(values, attrs.key, context)

        return record_all

    def record_each(values: Sequence[float], attrs: AttrSet, context: Context | None = None) -> None:
        for value in values:
            recorder(value, attrs, context)

    return record_each


def _store_recorder(instrument: Instrument) -> Recorder:
    write = instrument.record if instrument.spec.kind == "histogram" else instrument.add

    def record(value: float, attrs: AttrSet, context: Context | None = None) -> None:
        write(value, attrs.key, context)

    return record


class _SdkRecorder:
    """An SDK instrument behind the store's series cap (the SDK would keep every series forever)."""

    def __init__(self, spec: Spec, write: Callable[..., None], series_limit: int, overflow: Callable[[str], None]):
        self._spec = spec
        self._write = write
        self._limit = series_limit
        self._keys: set[AttrKey] = set()
        self._overflow = overflow

    def __call__(self, value: float, attrs: AttrSet, context: Context | None = None) -> None:
        admitted = attrs.admitted
        if admitted is None or self not in admitted:
            attrs = self._admit(attrs)
        self._write(value, attrs.mapping, context)  # (amount, attributes, context): both kinds, positional

    def _admit(self, attrs: AttrSet) -> AttrSet:
        """``attrs`` once it is (or becomes) one of the series, marked so; beyond the cap, its
        overflow set, and the point counted (``attrs`` stays unmarked: each of its points is)."""
        if attrs.key not in self._keys:
            if len(self._keys) >= self._limit:
                self._overflow(self._spec.name)
                bounded = self._spec.bounded
                folded = AttrSet({k: v if k in bounded else n.OVERFLOW_VALUE for k, v in attrs.mapping.items()})
                self._keys.add(folded.key)
                return folded
            self._keys.add(attrs.key)
        if attrs.admitted is None:
            attrs.admitted = set()
        attrs.admitted.add(self)  # a series is never dropped from an SDK instrument: marked for good
        return attrs


def _sdk_recorder(meter: Meter, spec: Spec, series_limit: int, overflow: Callable[[str], None]) -> Recorder:
    if spec.kind == "histogram":
        histogram = meter.create_histogram(
            spec.name, unit=spec.unit, description=spec.description, explicit_bucket_boundaries_advisory=spec.buckets
        )
        return _SdkRecorder(spec, histogram.record, series_limit, overflow)
    counter = meter.create_counter(spec.name, unit=spec.unit, description=spec.description)
    return _SdkRecorder(spec, counter.add, series_limit, overflow)


# The stores' gauge instruments each meter's observable gauges read, held weakly: the SDK keeps
# the first callback registered under a name for the meter's life, so one callback per (meter,
# gauge) reads every live store writing to that meter, and a dropped callback's store is released.
_gauge_sources: weakref.WeakKeyDictionary[Meter, dict[str, weakref.WeakSet[Instrument]]] = weakref.WeakKeyDictionary()
_gauge_lock: Final = threading.Lock()


def observe_gauges(meter: Meter, instruments: Iterable[Instrument]) -> None:
    """Observable gauges on ``meter`` reading the stores' gauge series (providers the application owns)."""
    with _gauge_lock:
        sources = _gauge_sources.setdefault(meter, {})
        for instrument in instruments:
            spec = instrument.spec
            if spec.name not in sources:
                sources[spec.name] = weakref.WeakSet()
                meter.create_observable_gauge(
                    spec.name,
                    callbacks=[functools.partial(_observe, sources[spec.name])],
                    unit=spec.unit,
                    description=spec.description,
                )
            sources[spec.name].add(instrument)


def _observe(instruments: weakref.WeakSet[Instrument], options: CallbackOptions) -> Iterable[Observation]:
    series: dict[tuple[tuple[str, object], ...], tuple[dict[str, object], float]] = {}
    for instrument in list(instruments):
        for attrs, value in instrument.series():
            series[tuple(sorted(attrs.items()))] = (attrs, value)
    return [Observation(value, attrs) for attrs, value in series.values()]  # type: ignore[arg-type]


class Instruments:
    """Every counter and histogram otel-llm records, on its store or on an SDK meter."""

    def __init__(self, store: MetricStore, meter: Meter | None = None, series_limit: int = 0) -> None:
        """On ``meter`` (SDK instruments, each capped at ``series_limit`` series) when given,
        otherwise on ``store`` (whose readers otel-llm built)."""
        self._warned: set[str] = set()
        recorders: dict[str, Any] = {}
        for spec in (*HISTOGRAMS, *COUNTERS):
            if meter is None:
                recorders[spec.name] = _store_recorder(store.instrument(spec))
            else:
                recorders[spec.name] = _sdk_recorder(meter, spec, series_limit, self._series_overflow)
        r = recorders.__getitem__
        self.duration: Recorder = r(DURATION.name)
        self.token_usage: Recorder = r(TOKEN_USAGE.name)
        self.time_to_first_chunk: Recorder = r(TIME_TO_FIRST_CHUNK.name)
        self.time_per_output_chunk: Recorder = r(TIME_PER_OUTPUT_CHUNK.name)
        # A stream's chunk intervals, all at once (on the store: one series lookup and lock for them all).
        self.time_per_output_chunks: ManyRecorder = _many(
            self.time_per_output_chunk, store.instrument(TIME_PER_OUTPUT_CHUNK) if meter is None else None
        )
        self.cost: Recorder = r(COST.name)
        self.requests: Recorder = r(REQUESTS.name)
        self.spend: Recorder = r(SPEND.name)
        self.tokens: Recorder = r(TOKENS.name)
        self.component_spend: Recorder = r(COMPONENT_SPEND.name)
        self.cache_savings: Recorder = r(CACHE_SAVINGS.name)
        self.retries: Recorder = r(RETRIES.name)
        self.fallbacks: Recorder = r(FALLBACKS.name)
        self.accounting_issues: Recorder = r(ACCOUNTING_ISSUES.name)
        self.loop_detections: Recorder = r(LOOP_DETECTIONS.name)
        self.loop_refusals: Recorder = r(LOOP_REFUSALS.name)
        self.proxy_refusals: Recorder = r(PROXY_REFUSALS.name)
        self.internal_errors: Recorder = r(INTERNAL_ERRORS.name)
        self.metric_overflow: Recorder = r(METRIC_OVERFLOW.name)
        self.mcp_operation_duration: Recorder = r(MCP_OPERATION_DURATION.name)
        self.mcp_tool_calls: Recorder = r(MCP_TOOL_CALLS.name)
        self.mcp_tool_spend: Recorder = r(MCP_TOOL_SPEND.name)
        self.guardrail_duration: Recorder = r(GUARDRAIL_DURATION.name)
        self.guardrail_evaluations: Recorder = r(GUARDRAIL_EVALUATIONS.name)
        self.agent_call_duration: Recorder = r(AGENT_CALL_DURATION.name)
        self.agent_calls: Recorder = r(AGENT_CALLS.name)
        store.on_overflow(self._series_overflow)

    def overflow(self, metric: str, attribute: str) -> None:
        """Count a point a cap reported as _OTHER: ``attribute`` capped on ``metric``."""
        self.metric_overflow(1, AttrSet({n.OVERFLOW_METRIC_NAME: metric, n.OVERFLOW_ATTRIBUTE: attribute}))

    def _series_overflow(self, metric: str) -> None:
        if metric == n.METRIC_OVERFLOW_METRIC:  # its own series are bounded: never recurse
            return
        if metric not in self._warned:
            self._warned.add(metric)
            _log.warning(
                "otel-llm: metric %s reached OTEL_LLM_METRIC_SERIES_LIMIT series; new series keep only their "
                "bounded attributes (a gauge: none is reported) and are counted in otel_llm.metric.overflow "
                "until series go idle (OTEL_LLM_METRIC_IDLE_TIMEOUT).",
                metric,
            )
        self.overflow(metric, "(series)")
