"""The metric store's vocabulary: instrument specs, and the state of one series and one reader's interval."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final, Literal

from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import AggregationTemporality

AttrKey = tuple[tuple[str, object], ...]
Kind = Literal["counter", "updowncounter", "histogram", "gauge"]
# An instrumentation scope other than otel-llm's own: (name, version, schema URL).
Scope = tuple[str, "str | None", "str | None"]
ExemplarFilter = Literal["trace_based", "always_on", "always_off"]

CUMULATIVE: Final = AggregationTemporality.CUMULATIVE
DELTA: Final = AggregationTemporality.DELTA


@dataclass(frozen=True)
class Spec:
    """One instrument: what it is called, measures and how it aggregates."""

    name: str
    kind: Kind
    unit: str
    description: str
    buckets: tuple[float, ...] = ()
    # Shared series describe a key or team, not a process: exported by the readers of the
    # provider without process identity (see _export/setup.py), so workers write one series.
    shared: bool = False
    # Attributes kept on the overflow series (bounded by construction).
    bounded: frozenset[str] = frozenset()
    # Gauges: seconds a value is reported after its last update (None: the store's ttl).
    ttl_s: float | None = None
    # The instrumentation scope, when not otel-llm's (FastAPI's instruments on lean providers).
    scope: Scope | None = None


# What a cumulative reader reported last: (sum, count, bucket counts, min, max); atoms only, so the
# garbage collector untracks it (a reader keeps one per series between collections).
_Carry = tuple[float, int, tuple[int, ...], float, float]
# The bucket counts of a series without buckets (counters, gauges): shared, never written (only
# histograms count into buckets), instead of an empty list per series and per collection.
_NO_BUCKETS: Final[list[int]] = []
# A bucket's exemplar until it is collected: (with filtered attributes, value, time, span id, trace
# id), an exact tuple of atoms the garbage collector untracks. It waits for its bucket's next
# measurement or the next collection; as the SDK's Exemplar it was tracked and promoted to the
# oldest generation with the host's state. ``exemplar_of`` makes the SDK's Exemplar at collection.
ExemplarAtoms = tuple[bool, float, int, int | None, int | None]


def exemplar_of(atoms: ExemplarAtoms) -> Exemplar:
    """The SDK's Exemplar of a kept measurement: its attributes less the point's, so none ({}, or
    None when the measurement had none, as the SDK gives them)."""
    with_attributes, value, time_ns, span_id, trace_id = atoms
    return Exemplar({} if with_attributes else None, value, time_ns, span_id, trace_id)


class _Interval:
    """What one reader has not collected yet (the delta, the exemplars of the interval) and, for a
    cumulative reader, the totals it reported so far: the SDK adds each interval to those, in that
    order, and so does the store, so float sums come out bit for bit the same."""

    __slots__ = ("carry", "count", "counts", "exemplars", "max", "min", "start_ns", "sum", "touched")

    def __init__(self, buckets: int, start_ns: int, carry: _Carry | None = None) -> None:
        self.start_ns = start_ns
        self.touched = False
        self.sum: float = 0
        self.count = 0
        self.min = math.inf
        self.max = -math.inf
        self.counts = [0] * buckets if buckets else _NO_BUCKETS
        self.exemplars: list[ExemplarAtoms | None] | None = None
        self.carry = carry

    def cumulative(self) -> _Carry:
        """This interval added to what was reported before (SDK order: interval + previous)."""
        if self.carry is None:
            return self.sum, self.count, tuple(self.counts), self.min, self.max
        psum, pcount, pcounts, pmin, pmax = self.carry
        counts = tuple(value + previous for value, previous in zip(self.counts, pcounts, strict=True))
        return self.sum + psum, self.count + pcount, counts, min(self.min, pmin), max(self.max, pmax)


class _Series:
    """One attribute set of an instrument: its readers' intervals, when it was last written, and for
    counters and gauges the running total or last value (observable instruments read it). A
    histogram's totals live in its readers' intervals and carries only."""

    __slots__ = ("attrs", "intervals", "last_mono", "start_ns", "sum")

    def __init__(self, attrs: dict[str, object], buckets: int, start_ns: int, readers: int, mono: float) -> None:
        self.attrs = attrs
        self.start_ns = start_ns
        self.last_mono = mono
        self.sum: float = 0  # counters: the total; gauges: the last value
        self.intervals = [_Interval(buckets, start_ns) for _ in range(readers)]


def fold(target: _Interval, accepted: list[tuple[float, int]]) -> None:
    """Histogram measurements (value, bucket index) added to a reader's interval one at a time,
    in order: the same float sum, counts, min and max as a ``record`` each."""
    total, low, high, counts = target.sum, target.min, target.max, target.counts
    for value, index in accepted:
        total += value
        counts[index] += 1
        low = min(low, value)
        high = max(high, value)
    target.sum, target.min, target.max = total, low, high
    target.count += len(accepted)
