"""The budget poller: every key's, team's, user's, organisation's and end user's budget state,
read from LiteLLM's database on a schedule, whether they send traffic or not.

Once per deployment, not once per worker or replica: every proxy process runs a poller
thread, and only the one holding a PostgreSQL session-level advisory lock
(``pg_try_advisory_lock``) reads; the others try to take the lock each interval, so when the
holder dies (its session ends, and the lock with it) a standby takes over within an interval.
The holder reads on the session that holds the lock, so it can never read without it.

Values go to the headroom gauges (``_emit/headroom.py``), the series the request path writes
for the same key (same salted hash, alias and team), so budget and traffic series join. A
poll is bounded (``OTEL_LLM_BUDGET_MAX_ROWS`` rows per table, keyset pages, statement
timeouts); a failed one is counted (``otel_llm.budget.polls``, outcome ``failed``) and
logged at most once a minute; nothing here raises into LiteLLM. A database that is down
means no fresh budget gauges, never a broken proxy.
"""

from __future__ import annotations

import atexit
import hashlib
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry.metrics import MeterProvider, get_meter

from .. import _errors
from .. import _names as n
from .._config import Config
from .._emit.headroom import HeadroomEmitter
from .._emit.instruments import AttributeValue
from .._emit.series import AttrKey, Spec
from .._emit.store import sorted_key
from .._version import __version__
from .database import DatabaseUrlError, Target, configure, connect, resolve_target
from .rows import SERIES
from .tables import ENTITIES, Query, discover

if TYPE_CHECKING:
    import psycopg

    from .._emit.telemetry import Telemetry

_log: Final = logging.getLogger("otel_llm")
_LOG_INTERVAL_S: Final = 60.0
_LOCK_NAMESPACE: Final = b"otel-llm budget poller v1|"
# Polls a gauge must outlive: the interval is at most a third of the headroom TTL, so a budget gauge
# stays fresh through one failed poll and one poll as slow as an interval.
TTL_POLLS: Final = 3

POLLS: Final = Spec(
    n.BUDGET_POLLS_METRIC,
    "counter",
    "{poll}",
    "Budget polls of LiteLLM's database by outcome: ok, truncated (OTEL_LLM_BUDGET_MAX_ROWS reached), failed "
    "(error.type says why) or standby (another process holds the poller lock).",
    bounded=frozenset({n.BUDGET_POLL_OUTCOME, n.ERROR_TYPE}),
)

# Sessions inherited across a fork: never closed in the child (that would end the parent's session,
# and its lock), never collected (psycopg's finalizer would close them).
_inherited: list[object] = []

PollCounter = Callable[[Mapping[str, AttributeValue]], None]


class PooledSessionError(RuntimeError):
    """The poller's session is not a real PostgreSQL session (a transaction pooler), so its lock cannot hold."""


def lock_id(schema: str) -> int:
    """The advisory lock of the pollers of one LiteLLM schema (a signed 64-bit key)."""
    return int.from_bytes(hashlib.sha256(_LOCK_NAMESPACE + schema.encode()).digest()[:8], "big", signed=True)


def poll_interval(config: Config) -> float:
    """OTEL_LLM_BUDGET_POLL_INTERVAL, shortened (with a warning) to a third of OTEL_LLM_HEADROOM_TTL."""
    interval, ttl = config.budget_poll_interval_s, config.headroom_ttl_s
    if interval * TTL_POLLS > ttl:
        _log.warning(
            "otel-llm: OTEL_LLM_BUDGET_POLL_INTERVAL=%g is longer than a third of OTEL_LLM_HEADROOM_TTL=%g, so budget "
            "gauges would lapse after a missed poll. Polling every %g s; set the interval to at most a third of "
            "the TTL, or raise OTEL_LLM_HEADROOM_TTL.",
            interval,
            ttl,
            ttl / TTL_POLLS,
        )
        return ttl / TTL_POLLS
    return interval


class BudgetPoller:
    """Polls one LiteLLM database into the headroom gauges while it holds the poller lock."""

    def __init__(
        self,
        config: Config,
        target: Target,
        headroom: HeadroomEmitter,
        count: PollCounter | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """``env``: where DATABASE_URL is read again for each new session (LiteLLM rewrites it when it
        refreshes an IAM token); the ``target`` given is used throughout without one."""
        self.config = config
        self.target = target
        self._env = env
        self.interval_s = poll_interval(config)
        self._headroom = headroom
        self._count = count
        self._session: psycopg.Connection[Any] | None = None
        self._backend: object = None  # the server process of the session holding the lock
        self._queries: list[Query] = []
        # Series the last complete poll set, by attribute set: those a later poll no longer finds are
        # dropped at once (a deleted key), not left to lapse.
        self._previous: dict[AttrKey, tuple[str, ...]] = {}
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_logged: dict[str, float] = {}
        self.last_outcome: str | None = None
        self.last_rows = 0
        self.last_duration_s = 0.0
        this = weakref.ref(self)

        def after_fork() -> None:
            poller = this()
            if poller is not None:
                poller.after_fork_in_child()

        os.register_at_fork(after_in_child=after_fork)

    @property
    def holds_lock(self) -> bool:
        """True while this process is the one that polls."""
        return self._session is not None

    def start(self) -> None:
        """Poll on a daemon thread, every interval, until ``stop()`` or exit."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="otel-llm-budget-poller", daemon=True)
        self._thread.start()
        atexit.register(self.stop)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop polling and end the session (which releases the lock at once, for a standby to take)."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
        # A poll still running (a slow query) holds the guard: exit does not wait for it, the process's
        # end closes the session anyway.
        if self._guard.acquire(timeout=timeout_s):
            try:
                self._drop_session()
            finally:
                self._guard.release()

    def poll_once(self) -> str:
        """Take the lock if free and, holding it, read every table once: the outcome (ok, truncated,
        failed or standby). Never raises."""
        with self._guard:
            started = time.monotonic()
            error: BaseException | None = None
            try:
                outcome = self._poll()
            except Exception as failure:  # noqa: BLE001  # the boundary: a poll never raises into LiteLLM
                error = failure
                outcome = "failed"
                self._drop_session()
                self._report(failure)
            self.last_outcome = outcome
            self.last_duration_s = time.monotonic() - started
        attrs: dict[str, AttributeValue] = {n.BUDGET_POLL_OUTCOME: outcome}
        if error is not None:
            attrs[n.ERROR_TYPE] = type(error).__name__
        if self._count is not None:
            try:
                self._count(attrs)
            except Exception as failure:  # noqa: BLE001
                _report_internal(failure)
        return outcome

    # --- one poll -----------------------------------------------------------------------
    def _poll(self) -> str:
        if self._session is None:
            if self._env is not None:
                self.target = resolve_target(self.config.budget_database_url, self._env) or self.target
            session = connect(self.target)
            try:
                row = session.execute(
                    "SELECT pg_try_advisory_lock(%s), pg_backend_pid()", (lock_id(self.target.schema),)
                ).fetchone()
                if not row or row[0] is not True:
                    session.close()
                    # Another process polls now: what this one reported as holder is that one's to report
                    # (two processes exporting one series, one of them frozen, would flap between values).
                    self._forget_series(self._previous)
                    self._previous = {}
                    return "standby"
                self._backend = row[1]
                configure(session)
                columns = discover(session, self.target.schema)
                self._queries = [
                    Query(entity, self.target.schema, columns)
                    for entity in ENTITIES
                    if entity.id_column in columns.get(entity.table, ())
                ]
            except BaseException:
                session.close()
                raise
            self._session = session
            _log.info(
                "otel-llm: this process now reads budgets from LiteLLM's database (%s, schema %s) every %g s; "
                "other workers and replicas stand by.",
                self.target.source,
                self.target.schema,
                self.interval_s,
            )
        else:
            # A session-level lock holds only on a real session: behind a transaction pooler the
            # statements of one client land on several server sessions. Checked every poll.
            row = self._session.execute("SELECT pg_backend_pid()").fetchone()
            if not row or row[0] != self._backend:
                raise PooledSessionError(
                    "the poller's statements ran on another server session than the one holding its lock: the "
                    "database URL goes through a transaction pooler; set OTEL_LLM_BUDGET_DATABASE_URL to a direct "
                    "connection (or session pooling)"
                )
        return self._read(self._session)

    def _read(self, session: psycopg.Connection[Any]) -> str:
        seen: dict[AttrKey, tuple[str, ...]] = {}
        limit = self.config.attribute_max_length
        truncated: list[str] = []
        rows = 0
        for query in self._queries:
            to_series = SERIES[query.entity.name]

            def handle(page: list[dict[str, object]], to_series: Any = to_series) -> None:
                nonlocal rows
                rows += len(page)
                for row in page:
                    series = to_series(row, limit)
                    if series is None:
                        continue
                    attrs, values = series
                    self._headroom.set_many(attrs, values)
                    seen[sorted_key(attrs.items())] = tuple(name for name, value in values if value is not None)

            if query.read(session, self.config.budget_max_rows, handle):
                truncated.append(query.entity.table)
        self.last_rows = rows
        if truncated:
            self._previous.update(seen)  # an incomplete read proves nothing gone
            self._log_once(
                "truncated",
                "otel-llm: the budget poll read only the first %d rows of %s (OTEL_LLM_BUDGET_MAX_ROWS): the "
                "rest have no budget gauges. Raise OTEL_LLM_BUDGET_MAX_ROWS. Counted in otel_llm.budget.polls "
                "(outcome truncated); logged at most once a minute.",
                self.config.budget_max_rows,
                ", ".join(truncated),
            )
            return "truncated"
        self._forget_series(self._previous, seen)
        self._previous = seen
        return "ok"

    def _forget_series(
        self, series: Mapping[AttrKey, tuple[str, ...]], keep: Mapping[AttrKey, tuple[str, ...]] | None = None
    ) -> None:
        """Drop ``series`` from the gauges, but those in ``keep``."""
        for key, names in series.items():
            kept = keep.get(key, ()) if keep is not None else ()
            for name in names:
                if name not in kept:
                    self._headroom.forget(name, key)

    # --- failures -----------------------------------------------------------------------
    def _report(self, error: Exception) -> None:
        import psycopg  # noqa: PLC0415  # imported already: a session was attempted

        if not isinstance(error, (psycopg.Error, DatabaseUrlError, PooledSessionError)):
            _report_internal(error)
            return
        message = self.target.scrub(str(error).strip().splitlines()[0] if str(error).strip() else "")[:300]
        self._log_once(
            "failed",
            "otel-llm: budget poll of LiteLLM's database (%s) failed: %s: %s. Budget gauges are not refreshed "
            "(they lapse after OTEL_LLM_HEADROOM_TTL); LLM calls are unaffected. Counted in otel_llm.budget.polls "
            "(outcome failed); logged at most once a minute.",
            self.target.source,
            type(error).__name__,
            message,
        )

    def _log_once(self, kind: str, message: str, *args: object) -> None:
        """A warning, at most once a minute per kind (failed, truncated)."""
        now = time.monotonic()
        if now - self._last_logged.get(kind, -math.inf) >= _LOG_INTERVAL_S:
            self._last_logged[kind] = now
            _log.warning(message, *args)

    def _drop_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # noqa: BLE001  # a broken session is gone either way
                _log.debug("otel-llm: closing the budget poller's session failed", exc_info=True)

    # --- the thread ---------------------------------------------------------------------
    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.poll_once()
            next_at += self.interval_s
            now = time.monotonic()
            next_at = max(next_at, now)
            self._stop.wait(next_at - now)
        with self._guard:
            self._drop_session()

    def after_fork_in_child(self) -> None:
        """Start afresh in a forked child: the session it inherited (and its socket, and the lock) is the
        parent's to use and close."""
        if self._session is not None:
            _inherited.append(self._session)
        self._session = None
        self._previous = {}
        self._guard = threading.Lock()
        running = self._thread is not None and not self._stop.is_set()
        self._stop = threading.Event()
        self._thread = None
        if running:
            self.start()


def _report_internal(error: Exception) -> None:
    # Strict mode (tests) records the error for the teardown check, and the thread lives on.
    with _errors.boundary("budgets.poll", reraise=False):
        raise error


def poll_counter(telemetry: Telemetry, meter_provider: MeterProvider | None = None) -> PollCounter:
    """``otel_llm.budget.polls`` on the telemetry's metric store (lean path) or meter (SDK path)."""
    if telemetry.lean:
        instrument = telemetry.metric_store.instrument(POLLS)
        return lambda attrs: instrument.add(1, sorted_key(attrs.items()))
    from .._emit.telemetry import SCHEMA_URL, SCOPE  # noqa: PLC0415

    meter = get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
    counter = meter.create_counter(POLLS.name, unit=POLLS.unit, description=POLLS.description)
    return lambda attrs: counter.add(1, attrs)


def start_budget_poller(
    config: Config,
    telemetry: Telemetry,
    meter_provider: MeterProvider | None = None,
    env: Mapping[str, str] | None = None,
) -> BudgetPoller | None:
    """The proxy's budget poller, started, when OTEL_LLM_BUDGET_POLL is on and a database is configured
    (OTEL_LLM_BUDGET_DATABASE_URL, else DATABASE_URL); None otherwise (a warning says why if it should)."""
    if not config.budget_poll:
        return None
    try:
        target = resolve_target(config.budget_database_url, os.environ if env is None else env)
    except DatabaseUrlError as error:
        _log.warning("otel-llm: %s.", error)
        return None
    except ImportError:
        _log.warning(
            "otel-llm: reading budgets from LiteLLM's database needs psycopg, which is not installed: "
            "pip install 'otel-llm[proxy]' (or set OTEL_LLM_BUDGET_POLL=false). No budget gauges from the database."
        )
        return None
    if target is None:
        _log.debug("otel-llm: no DATABASE_URL or OTEL_LLM_BUDGET_DATABASE_URL; budgets are read from traffic only")
        return None
    poller = BudgetPoller(
        config, target, telemetry.headroom, poll_counter(telemetry, meter_provider), os.environ if env is None else env
    )
    poller.start()
    return poller
