"""The one table of patch targets: it drives both instrument and uninstrument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Target:
    """A LiteLLM entry point to wrap."""

    owner: str  # "litellm" (module attribute) or "Router" (class attribute of litellm.Router)
    name: str
    call_type: str
    is_async: bool
    model_arg: int = 0  # position of ``model`` when passed positionally


def _pair(owner: str, name: str, model_arg: int = 0) -> tuple[Target, Target]:
    return Target(owner, name, name, False, model_arg), Target(owner, "a" + name, "a" + name, True, model_arg)


ATTEMPT_TARGETS: Final = (
    *_pair("litellm", "completion"),
    *_pair("litellm", "embedding"),
    *_pair("litellm", "text_completion", model_arg=1),
    *_pair("litellm", "responses", model_arg=1),
    *_pair("litellm", "image_generation", model_arg=1),
    *_pair("litellm", "speech"),
    *_pair("litellm", "transcription"),
    *_pair("litellm", "rerank"),
    Target("litellm", "anthropic_messages", "anthropic_messages", True, model_arg=2),
)

ROUTER_TARGETS: Final = (
    *_pair("Router", "completion", model_arg=0),
    *_pair("Router", "embedding"),
    *_pair("Router", "text_completion"),
    *_pair("Router", "responses"),
    *_pair("Router", "image_generation", model_arg=1),
    Target("Router", "aspeech", "aspeech", True),
    Target("Router", "atranscription", "atranscription", True, model_arg=1),
    Target("Router", "arerank", "arerank", True),
    Target("Router", "aanthropic_messages", "aanthropic_messages", True),
    # Async despite its name: the proxy's /v1/messages route awaits it. LiteLLM >= 1.110 serves it
    # (with aanthropic_messages, responses and aresponses) from the Router class; older Routers set
    # those four per instance in __init__, which patching.py reaches through a class descriptor.
    Target("Router", "anthropic_messages", "anthropic_messages", True),
)
