"""Runaway-loop detection in the SDK: triggers, episodes, block mode, bounded memory, Redis."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from typing import Any

import litellm
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_llm import LiteLLMInstrumentor, LoopBlockedError
from otel_llm._capture import complete, patches
from otel_llm._capture.call import LiveCall
from otel_llm._config import resolve
from otel_llm._loop import detector as loop_detector
from otel_llm._loop.fingerprint import fingerprints
from otel_llm._loop.store import InProcessStore, Observation, RedisStore
from tests.conftest import Signals, wait_for
from tests.fakes import FakeOpenAI


@pytest.fixture
def loop_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Each test gets a fresh detector built from its own environment."""
    loop_detector.reset()
    yield monkeypatch
    loop_detector.reset()


@pytest.fixture
def instrument(signals: Signals, loop_env: pytest.MonkeyPatch) -> Iterator[object]:
    instrumentors: list[LiteLLMInstrumentor] = []

    def start(**env: str) -> None:
        for name, value in env.items():
            loop_env.setenv(name, value)
        instrumentor = LiteLLMInstrumentor()
        instrumentor.instrument(tracer_provider=signals.tracer_provider, meter_provider=signals.meter_provider)
        instrumentors.append(instrumentor)

    yield start
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


def _detections(signals: Signals) -> dict[tuple[str, str], int]:
    return {
        (p.attributes["otel_llm.loop.reason"], p.attributes["otel_llm.loop.action"]): p.value
        for p in signals.points("otel_llm.loop.detections")
    }


def _events(signals: Signals) -> list[dict[str, object]]:
    return [dict(e.attributes) for s in signals.spans() for e in s.events if e.name == "otel_llm.loop.detected"]


def _repeat(count: int, prompt: str = "are we there yet?") -> None:
    for _ in range(count):
        litellm.completion(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": prompt}], mock_response="no"
        )


def test_repeated_prompt_is_detected_once_per_episode(instrument: object, signals: Signals) -> None:
    """The 8th identical request is flagged (span event + counter); later repeats in the cool-down are not recounted."""
    instrument()  # type: ignore[operator]
    _repeat(7)
    signals.wait_spans(7)
    assert _detections(signals) == {}
    _repeat(1)
    signals.wait_spans(8)
    (event,) = _events(signals)
    assert event["otel_llm.loop.reason"] == "repeat"
    assert event["otel_llm.loop.repeats"] == 8
    assert event["otel_llm.loop.action"] == "observed"
    last = max(signals.spans(), key=lambda s: s.start_time)
    assert [e.name for e in last.events] == ["otel_llm.loop.detected"]
    _repeat(5)
    signals.wait_spans(13)
    assert _detections(signals) == {("repeat", "observed"): 1}


def test_block_mode_counts_a_call_once_when_its_callback_comes_first(
    instrument: object, signals: Signals, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiteLLM runs a sync call's callback on its thread pool, which can finish before the call
    returns to the wrapper: the call is still observed once, so 3 repeats under a threshold of 4
    are not refused (counted twice, the third would be)."""
    observed: list[str | None] = []
    real_observe = complete.observe_loops
    real_returned = patches._attempt_returned

    def counting_observe(record: Any, config: Any) -> None:
        observed.append(record.call_id)
        real_observe(record, config)

    def returned_after_callback(call: LiveCall, result: Any) -> Any:
        wait_for(lambda: call.finished, timeout=10, message="the callback finishing the call")
        return real_returned(call, result)

    monkeypatch.setattr(complete, "observe_loops", counting_observe)
    monkeypatch.setattr(patches, "_attempt_returned", returned_after_callback)
    instrument(OTEL_LLM_LOOP_MODE="block", OTEL_LLM_LOOP_REPEATS="4")  # type: ignore[operator]
    _repeat(3)
    signals.wait_spans(3)
    assert len(observed) == len(set(observed)) == 3
    assert _detections(signals) == {}


def test_block_mode_refuses_with_a_clear_error(instrument: object, signals: Signals) -> None:
    """In block mode the calls after a detection raise LoopBlockedError, saying why and until when."""
    instrument(OTEL_LLM_LOOP_MODE="block", OTEL_LLM_LOOP_REPEATS="4")  # type: ignore[operator]
    _repeat(4)  # the 4th completes and is detected
    signals.wait_spans(4)
    with pytest.raises(LoopBlockedError) as refused:
        _repeat(1)
    message = str(refused.value)
    assert "runaway loop (repeat: 4 identical requests" in message
    assert "refused for" in message and "OTEL_LLM_LOOP_MODE=observe" in message
    assert 0 < refused.value.retry_after_s <= 300
    (point,) = signals.points("otel_llm.loop.refusals")
    assert point.value == 1 and point.attributes["otel_llm.loop.reason"] == "repeat"
    # Another prompt from the same caller and model is the same scope: still refused.
    with pytest.raises(LoopBlockedError):
        _repeat(1, "a different question")


def test_agent_tool_loop_with_growing_history(instrument: object, signals: Signals) -> None:
    """An agent calling the same tool with the same result, history growing each turn, is caught by its tail."""
    instrument()  # type: ignore[operator]
    history: list[dict[str, object]] = [{"role": "user", "content": "find the weather in Paris"}]
    for i in range(10):
        call = {"id": f"call_{i}", "type": "function", "function": {"name": "search", "arguments": '{"q": "paris"}'}}
        history += [
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": "no results"},
        ]
        litellm.completion(model="openai/gpt-4o-mini", messages=list(history), mock_response="let me search again")
    signals.wait_spans(10)
    assert _detections(signals) == {("repeat", "observed"): 1}


def test_token_growth(instrument: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """A conversation growing at machine speed without repeating itself is caught by token growth."""
    instrument()  # type: ignore[operator]
    history: list[dict[str, object]] = []
    for i in range(10):
        history.append({"role": "user", "content": f"step {i} " + "detail " * (5 * i + 5)})
        litellm.completion(
            model="openai/gpt-4o-mini", messages=list(history), api_base=fake_openai.api_base, api_key="sk"
        )
    signals.wait_spans(10)  # reported from LiteLLM's thread pool, in any order: read in the order they started
    assert _detections(signals) == {("token_growth", "observed"): 1}
    (event,) = _events(signals)
    assert event["otel_llm.loop.input_growth"] >= 2


def test_spend_velocity(instrument: object, signals: Signals, fake_openai: FakeOpenAI) -> None:
    """Spending faster than OTEL_LLM_LOOP_SPEND_PER_MINUTE is a loop, whatever the prompts."""
    instrument(OTEL_LLM_LOOP_SPEND_PER_MINUTE="0.00002")  # type: ignore[operator]
    for i in range(6):
        litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": f"question number {i} " + "x " * 20}],
            api_base=fake_openai.api_base,
            api_key="sk",
        )
    signals.wait_spans(6)
    assert _detections(signals) == {("spend_velocity", "observed"): 1}
    (event,) = _events(signals)
    assert event["otel_llm.loop.spend_per_minute"] > 0.00002


@pytest.mark.parametrize("mode", ["observe", "block"])
def test_busy_varied_traffic_is_never_flagged(instrument: object, signals: Signals, mode: str) -> None:
    """Hundreds of varied prompts at full speed from several users: zero detections, zero refusals."""
    instrument(OTEL_LLM_LOOP_MODE=mode)  # type: ignore[operator]
    topics = ["billing", "refund", "login", "shipping", "invoice", "password", "upgrade", "cancel"]
    for i in range(400):
        user = f"user-{i % 5}"
        prompt = f"{topics[i % 8]} question {i}: " + "please help " * (i % 13)
        litellm.completion(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": prompt}], mock_response="ok", user=user
        )
    signals.wait_spans(400)
    assert _detections(signals) == {}
    assert not signals.points("otel_llm.loop.refusals")


def test_off_mode_detects_nothing(instrument: object, signals: Signals) -> None:
    """OTEL_LLM_LOOP_MODE=off disables detection."""
    instrument(OTEL_LLM_LOOP_MODE="off")  # type: ignore[operator]
    _repeat(12)
    signals.wait_spans(12)
    assert _detections(signals) == {}


def test_windows_are_bounded() -> None:
    """The in-process store keeps at most max_windows windows and drops idle ones after the window."""
    store = InProcessStore(max_windows=100)
    for i in range(1000):
        store.append(f"scope-{i}", Observation(1000.0 + i * 0.001, "f", "t", 1, 0.0), 300, 10, 60)
    assert len(store._windows) == 100
    store.append("late", Observation(2000.0, "f", "t", 1, 0.0), 300, 10, 60)
    assert list(store._windows) == ["late"]


def test_redis_shares_windows_and_degrades(
    redis_server: tuple[str, subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """Two detectors (two workers) sharing Redis see one window; Redis stopping degrades to in-process state."""
    url, process = redis_server
    config = resolve({"OTEL_LLM_LOOP_REDIS_URL": url, "OTEL_LLM_LOOP_REPEATS": "6"})
    workers = [
        loop_detector.Detector(config, RedisStore(url, InProcessStore(100))),
        loop_detector.Detector(config, RedisStore(url, InProcessStore(100))),
    ]
    from otel_llm._record import Attribution, InvocationRecord

    def call(worker: loop_detector.Detector) -> object:
        record = InvocationRecord(
            call_id="x", operation="chat", request_model="m", request_fingerprint="same", tail_fingerprint="same"
        )
        record.attribution = Attribution(key_hash="k1")
        return worker.observe(record)[0]

    results = [call(workers[i % 2]) for i in range(6)]
    assert results[:5] == [None] * 5 and results[5] is not None  # 3 calls on each worker, caught on the 6th
    process.terminate()
    process.wait(timeout=10)
    started = time.monotonic()
    assert call(workers[0]) is None  # no exception: the in-process twin takes over
    assert time.monotonic() - started < 2
    assert "cannot reach Redis" in caplog.text


@settings(max_examples=100, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=40.0),  # seconds since the previous call
            st.sampled_from(["a", "b", None]),
            st.sampled_from(["x", "y", None]),
            st.integers(min_value=0, max_value=500),
            st.floats(min_value=0.0, max_value=1.0),
        ),
        max_size=60,
    )
)
def test_running_window_statistics_equal_a_full_recount(
    steps: list[tuple[float, str | None, str | None, int, float]],
) -> None:
    """The O(1) running counts of a window agree with recounting the window from scratch, after every call."""
    from otel_llm._loop.store import _Window, stats_of

    window, kept, t = _Window(), [], 1000.0
    for gap, full, tail, tokens, cost in steps:
        t += gap
        new = Observation(t, full, tail, tokens, cost)
        got = window.add(new, 120.0, 4, 30.0)
        kept = [o for o in [*kept, new] if o.t >= t - 120.0]
        expected = stats_of(kept, new, 4, 30.0)
        assert (got.calls, got.repeats, got.calls_last_minute, got.growth) == (
            expected.calls,
            expected.repeats,
            expected.calls_last_minute,
            expected.growth,
        )
        assert got.spend_last_minute == pytest.approx(expected.spend_last_minute, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from([0.5, 2.0, 20.0]), st.integers(min_value=-20, max_value=100)),
        max_size=40,
    )
)
def test_window_growth_equals_a_full_recount_for_growing_conversations(steps: list[tuple[float, int]]) -> None:
    """Prompts that mostly grow (the token_growth trigger's case, which independent random sizes rarely
    reach): the window's growth, computed only when the newest call grew, equals a full recount."""
    from otel_llm._loop.store import _Window, stats_of

    window, kept, t, tokens = _Window(), [], 1000.0, 100
    for gap, delta in steps:
        t += gap
        tokens = max(0, tokens + delta)
        new = Observation(t, None, None, tokens, 0.0)
        got = window.add(new, 120.0, 4, 30.0)
        kept = [o for o in [*kept, new] if o.t >= t - 120.0]
        assert got.growth == stats_of(kept, new, 4, 30.0).growth


@settings(max_examples=200, deadline=None)
@given(swaps=st.lists(st.integers(min_value=0, max_value=10), max_size=4), extra=st.integers(min_value=0, max_value=5))
def test_growth_is_read_in_the_order_calls_started(swaps: list[int], extra: int) -> None:
    """Sync calls are reported from a thread pool, a few out of their order: a conversation growing over
    ten calls is caught whatever the order its reports arrive in (in process, and as the Redis store
    recounts it), and one that does not grow is not."""
    from otel_llm._loop.store import _Window, stats_of

    calls = [Observation(0.0, None, None, 100 * (i + 1), 0.0, start=1000.0 + i) for i in range(10 + extra)]
    arrival = list(range(len(calls)))
    for swap in swaps:  # neighbours swapped: each report a place or two out of order
        if swap + 1 < len(arrival):
            arrival[swap], arrival[swap + 1] = arrival[swap + 1], arrival[swap]
    for flat in (False, True):
        window, kept, growth = _Window(), [], 0.0
        for n, index in enumerate(arrival):
            call = calls[index]
            tokens = 500 if flat else call.input_tokens
            new = Observation(1000.0 + n * 0.01, None, None, tokens, 0.0, start=call.start)
            got = window.add(new, 300.0, 10, 60.0)
            kept.append(new)
            assert got.growth == stats_of(kept, new, 10, 60.0).growth
            growth = max(growth, got.growth)
        assert (growth >= 2.0) is (not flat)


def test_a_windows_calls_are_atoms_the_garbage_collector_untracks() -> None:
    """A window keeps its calls for minutes: as exact tuples of atoms they are untracked at the first
    young collection, never promoted to the oldest generation with the host's state."""
    import gc

    from otel_llm._loop.store import InProcessStore

    store = InProcessStore(max_windows=4)
    for i in range(3):
        store.append("key", Observation(1000.0 + i, "fp", None, 10 + i, 0.01), 120.0, 4, 30.0)
    window = store._windows["key"]
    gc.collect(0)
    assert len(window.entries) == 3 and not any(gc.is_tracked(entry) for entry in window.entries)
    assert window.entries[-1] == (1002.0, "fp", None, 12, 0.01, 1002.0)


def test_a_bad_redis_url_is_reported_without_its_password_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """Not a Redis URL: the warning names the setting and the fix, never the value (it may hold a password)."""
    config = resolve({"OTEL_LLM_LOOP_REDIS_URL": "redis//:hunter2@localhost:6379"})
    assert config.loop_redis_url is None
    assert "OTEL_LLM_LOOP_REDIS_URL is invalid: set redis://" in caplog.text
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize("problem", ["unparsable", "redis package missing"])
def test_an_unusable_redis_store_never_breaks_calls_in_block_mode(
    problem: str,
    instrument: object,
    signals: Signals,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Redis URL redis-py cannot use, or no redis package: calls go on (loops still caught, in process)
    and the error says what to fix, once."""
    url = "redis://:hunter2@localhost:notaport/0"
    if problem == "redis package missing":
        url = "redis://:hunter2@localhost:6379/0"
        monkeypatch.setitem(__import__("sys").modules, "redis", None)  # import redis → ImportError
    instrument(OTEL_LLM_LOOP_MODE="block", OTEL_LLM_LOOP_REPEATS="3", OTEL_LLM_LOOP_REDIS_URL=url)  # type: ignore[operator]
    _repeat(3)  # no exception from the store: the calls run and the third is detected
    signals.wait_spans(3)
    with pytest.raises(LoopBlockedError):
        _repeat(1)
    fix = "pip install 'otel-llm[redis]'" if problem == "redis package missing" else "Set it to redis://"
    assert caplog.text.count("OTEL_LLM_LOOP_REDIS_URL") == 1 and fix in caplog.text
    assert "hunter2" not in caplog.text


def test_fingerprints_of_redacted_requests_are_none_and_a_short_request_is_its_own_tail() -> None:
    """LiteLLM's placeholder for unlogged messages would make every request look alike: no fingerprint.
    A request of one or two messages is its own tail; a longer one's tail is its last two messages."""
    assert fingerprints([{"role": "user", "content": "redacted-by-litellm"}]) == (None, None)
    assert fingerprints("redacted-by-litellm") == (None, None)
    assert fingerprints(["hi", "redacted-by-litellm"]) == (None, None)
    one = [{"role": "user", "content": "hello"}]
    whole, tail = fingerprints(one)
    assert whole is not None and whole == tail
    three = [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]
    whole3, tail3 = fingerprints(three)
    assert whole3 != tail3 and tail3 == fingerprints(three[-2:])[0]
