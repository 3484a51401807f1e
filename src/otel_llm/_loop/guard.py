"""The seams between loop detection and the rest: observe records, refuse looping callers."""

from __future__ import annotations

import time

from .. import _errors
from .._config import Config
from .._record import Attribution, InvocationRecord, McpOperationRecord
from .detector import detector_for, scope_of, tool_scope
from .store import Block


class LoopBlockedError(RuntimeError):
    """Raised (block mode) instead of calling the provider while a runaway loop is cooling down."""

    def __init__(self, block: Block, scope_description: str) -> None:
        wait = max(0, int(block.until - time.time()))
        super().__init__(
            f"otel-llm loop guard: {scope_description} is in a runaway loop ({block.reason}: {block.summary}); "
            f"calls are refused for {wait}s more (until {time.strftime('%H:%M:%S', time.gmtime(block.until))} UTC). "
            "Fix the agent, or set OTEL_LLM_LOOP_MODE=observe to only report loops."
        )
        self.block = block
        self.retry_after_s = wait


@_errors.guarded("loop.observe")
def observe(record: InvocationRecord, config: Config) -> None:
    """Feed a finished call to the detector; the record learns of a detection and the spend velocity."""
    if record.failed or record.incomplete:
        return
    detector = detector_for(config)
    if detector is not None:
        record.loop, record.spend_per_minute = detector.observe(record)


@_errors.guarded("loop.observe")
def observe_tool(record: McpOperationRecord, config: Config) -> None:
    """Feed a tool call that ran to the detector; the record learns of a detection."""
    if record.fingerprint is None or record.refusal is not None:
        return
    detector = detector_for(config)
    if detector is not None:
        record.loop = detector.observe_tool(record)


@_errors.guarded("loop.refusal")
def tool_refusal(config: Config, who: Attribution, tool: str | None) -> Block | None:
    """The block in force for this caller's calls of ``tool``, if loop mode is block and it loops (None on
    an internal error: a telemetry bug never refuses a call)."""
    detector = detector_for(config)
    return None if detector is None else detector.refusal(tool_scope(who, tool))


@_errors.guarded("loop.refusal")
def refusal(
    config: Config, key_hash: str | None, end_user: str | None, session: str | None, model: str | None
) -> Block | None:
    """The block in force for this caller, if loop mode is block and a loop is cooling down (None on an
    internal error: a telemetry bug never refuses a call)."""
    detector = detector_for(config)
    if detector is None:
        return None
    return detector.refusal(scope_of(key_hash, end_user, session, model))
