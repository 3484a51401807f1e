"""LiveCall's state machine: the phases its docstring names, reached by its transitions only."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import litellm
import pydantic
import pytest
from opentelemetry.trace import INVALID_SPAN

from otel_llm._capture import call as call_module
from otel_llm._capture.call import LiveCall, Phase
from otel_llm._capture.fields import attr, chunk_usage
from otel_llm._record import InvocationRecord

SRC = Path(call_module.__file__).resolve().parents[1]


def _call(streaming: bool = False, kwargs: dict[str, object] | None = None) -> LiveCall:
    # The telemetry is never touched by the transitions: a call needs none to move.
    return LiveCall(
        call_id="c1",
        span=INVALID_SPAN,
        telemetry=None,  # type: ignore[arg-type]
        operation="chat",
        call_type="completion",
        request_model="gpt-4o-mini",
        kwargs=kwargs or {},
        start_ns=1_000,
        start_mono=0,
        last_activity_mono=0,
        streaming=streaming,
    )


def test_a_plain_call_returns_then_finishes_once() -> None:
    call = _call()
    assert call.phase is Phase.IN_FLIGHT
    call.mark_returned({"id": "r"})
    assert call.phase is Phase.RETURNED
    assert call.end_ns is not None
    assert call.claim_finish() is True
    assert call.phase is Phase.FINISHED
    assert call.claim_finish() is False  # whoever comes second does nothing


def test_a_failed_call() -> None:
    call = _call()
    call.mark_failed(RuntimeError("boom"))
    assert call.phase is Phase.FAILED


def test_a_stream_read_to_its_end() -> None:
    call = _call(streaming=True)
    call.mark_returned(object())
    assert call.phase is Phase.STREAMING
    assert call.end_ns is None
    call.mark_chunk()
    call.mark_chunk()
    assert call.phase is Phase.STREAMING
    assert call.first_chunk_ns is not None
    assert len(call.chunk_intervals_s) == 1
    assert call.mark_stream_end(None) is None
    assert call.phase is Phase.RETURNED


def test_a_stream_failing_on_the_way() -> None:
    call = _call(streaming=True)
    call.mark_returned(object())
    call.mark_stream_end(ConnectionError("reset"))
    assert call.phase is Phase.FAILED


def test_an_early_report_is_held_for_the_streams_end() -> None:
    call = _call(streaming=True)
    call.mark_returned(object())
    record = InvocationRecord(call_id="c1", operation="chat")
    call.hold(record)
    assert call.phase is Phase.HELD
    assert call.mark_stream_end(None) is record  # the end hands the held report back
    assert call.claim_finish()
    assert call.phase is Phase.FINISHED


def test_an_abandoned_stream_and_a_report_of_the_whole_stream() -> None:
    call = _call(streaming=True)
    call.mark_returned(object())
    call.mark_chunk()
    call.mark_abandoned()
    assert call.phase is Phase.ABANDONED
    call.mark_ended_at_last_chunk()
    assert call.phase is Phase.RETURNED
    assert call.end_ns == call.start_ns + (call.last_chunk_mono or 0) - call.start_mono


def test_an_abandoned_proxy_stream_waits_longer_for_litellms_disconnect_report() -> None:
    """The SDK reports an abandoned stream to no callback: the sweeper ends it after a moment. The
    proxy reports the client's hang-up from its logging queue, late on a busy worker: it waits."""
    sdk, proxy = _call(streaming=True), _call(streaming=True, kwargs={"proxy_server_request": {}})
    for call in (sdk, proxy):
        assert not call.abandoned_for_a_moment()
        call.abandoned_ns = call.now_ns() - 1_000_000_000  # let go of a second ago
    assert sdk.abandoned_for_a_moment()
    assert not proxy.abandoned_for_a_moment()
    proxy.abandoned_ns = proxy.now_ns() - 6_000_000_000
    assert proxy.abandoned_for_a_moment()


def test_the_loop_outcome_is_kept_once() -> None:
    call = _call()
    record = InvocationRecord(call_id="c1", operation="chat", spend_per_minute=1.5)
    call.keep_loop_outcome(record)
    assert call.loop_observed
    assert call.spend_per_minute == 1.5
    assert call.phase is Phase.IN_FLIGHT  # beside the phase, not a phase


def test_the_docstring_table_names_every_phase_and_transition() -> None:
    doc = call_module.__doc__ or ""
    table = doc[doc.index("=====") :]
    for phase in Phase:
        assert phase.name in table, f"{phase.name} is missing from call.py's transition table"
    for method in re.findall(r"``(\w+)``", table):
        assert callable(getattr(LiveCall, method, None)), f"the table names {method}, which LiveCall lacks"
    transitions = {
        name
        for name, value in vars(LiveCall).items()
        if callable(value) and (name.startswith("mark_") or name in {"hold", "claim_finish"})
    }
    assert transitions <= set(re.findall(r"``(\w+)``", table)), "a transition missing from the table"


@pytest.mark.parametrize("path", sorted(p for p in SRC.rglob("*.py") if p.name != "call.py"), ids=str)
def test_no_other_module_writes_a_live_calls_state(path: Path) -> None:
    fields = "|".join(f.name for f in dataclasses.fields(LiveCall))
    writes = re.findall(rf"\bcall\.({fields})\s*(?:=|\+=|\.append\()", path.read_text())
    assert not writes, f"{path.relative_to(SRC)} writes LiveCall.{writes[0]}: add a transition to call.py"


class _UsageProperty:
    @property
    def usage(self) -> object:
        return {"total_tokens": 3}


def test_chunk_usage_reads_what_attr_reads_from_every_kind_of_chunk() -> None:
    """``chunk_usage`` (the per-chunk fast read) against ``attr(chunk, "usage")``: every chunk of real
    LiteLLM streams (with and without include_usage), dicts, a pydantic model with a declared usage
    field, an object with a usage property, objects without any."""

    class Declared(pydantic.BaseModel):
        usage: dict[str, int] | None = None

    chunks: list[object] = []
    for options in ({"include_usage": True}, None):
        stream = litellm.completion(
            model="openai/gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            mock_response="Hello from the mock provider",
            stream=True,
            stream_options=options,
        )
        chunks.extend(stream)
    chunks += [
        {"usage": {"total_tokens": 2}},
        {},
        Declared(usage={"total_tokens": 1}),
        Declared(),
        _UsageProperty(),
        object(),
        None,
        "text",
    ]
    assert any(attr(chunk, "usage") is not None for chunk in chunks[:20])  # the usage chunk is among them
    for chunk in chunks:
        assert chunk_usage(chunk) == attr(chunk, "usage"), chunk
