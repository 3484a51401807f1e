"""Map LiteLLM's names onto the GenAI conventions' well-known values."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Final

from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiOperationNameValues as _Op,
)
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiOutputTypeValues as _Out,
)
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (
    GenAiProviderNameValues as _P,
)

# LiteLLM's custom_llm_provider → gen_ai.provider.name. Providers the conventions do not
# list keep LiteLLM's own (lowercase, stable) name, as the conventions recommend.
_PROVIDERS: Final[dict[str, str]] = {
    "openai": _P.OPENAI.value,
    "text-completion-openai": _P.OPENAI.value,
    "chatgpt": _P.OPENAI.value,
    "azure": _P.AZURE_AI_OPENAI.value,
    "azure_text": _P.AZURE_AI_OPENAI.value,
    "azure_ai": _P.AZURE_AI_INFERENCE.value,
    "anthropic": _P.ANTHROPIC.value,
    "anthropic_text": _P.ANTHROPIC.value,
    "cohere": _P.COHERE.value,
    "cohere_chat": _P.COHERE.value,
    "bedrock": _P.AWS_BEDROCK.value,
    "bedrock_converse": _P.AWS_BEDROCK.value,
    "bedrock_mantle": _P.AWS_BEDROCK.value,  # Bedrock's OpenAI-compatible engine
    "vertex_ai": _P.GCP_VERTEX_AI.value,
    "vertex_ai_beta": _P.GCP_VERTEX_AI.value,
    "gemini": _P.GCP_GEMINI.value,
    "watsonx": _P.IBM_WATSONX_AI.value,
    "watsonx_text": _P.IBM_WATSONX_AI.value,
    "perplexity": _P.PERPLEXITY.value,
    "xai": _P.X_AI.value,
    "deepseek": _P.DEEPSEEK.value,
    "groq": _P.GROQ.value,
    "mistral": _P.MISTRAL_AI.value,
    "codestral": _P.MISTRAL_AI.value,
    "text-completion-codestral": _P.MISTRAL_AI.value,
}


def provider_name(custom_llm_provider: str | None) -> str | None:
    """The conventions' provider name for LiteLLM's ``custom_llm_provider``."""
    if not custom_llm_provider:
        return None
    key = custom_llm_provider.strip().lower()
    return _PROVIDERS.get(key, key) or None


TEXT_OUTPUT: Final = _Out.TEXT.value
JSON_OUTPUT: Final = _Out.JSON.value  # chat with response_format json_object / json_schema

# Providers whose streams carry usage only when the request asks for it with
# stream_options.include_usage; without it LiteLLM counts tokens itself.
OPENAI_STREAM_USAGE_OPT_IN: Final = frozenset(
    {"openai", "azure", "text-completion-openai", "azure_text", "openai_like", "hosted_vllm", "custom_openai"}
)


# call_type (LiteLLM) → (gen_ai.operation.name, gen_ai.output.type). Call types the
# conventions do not name keep a stable name of their own.
_OPERATIONS: Final[dict[str, tuple[str, str | None]]] = {
    "completion": (_Op.CHAT.value, _Out.TEXT.value),
    "acompletion": (_Op.CHAT.value, _Out.TEXT.value),
    "responses": (_Op.CHAT.value, _Out.TEXT.value),
    "aresponses": (_Op.CHAT.value, _Out.TEXT.value),
    "anthropic_messages": (_Op.CHAT.value, _Out.TEXT.value),
    "aanthropic_messages": (_Op.CHAT.value, _Out.TEXT.value),
    "text_completion": (_Op.TEXT_COMPLETION.value, _Out.TEXT.value),
    "atext_completion": (_Op.TEXT_COMPLETION.value, _Out.TEXT.value),
    "embedding": (_Op.EMBEDDINGS.value, None),
    "aembedding": (_Op.EMBEDDINGS.value, None),
    "image_generation": (_Op.GENERATE_CONTENT.value, _Out.IMAGE.value),
    "aimage_generation": (_Op.GENERATE_CONTENT.value, _Out.IMAGE.value),
    "speech": (_Op.GENERATE_CONTENT.value, _Out.SPEECH.value),
    "aspeech": (_Op.GENERATE_CONTENT.value, _Out.SPEECH.value),
    "transcription": ("transcription", _Out.TEXT.value),
    "atranscription": ("transcription", _Out.TEXT.value),
    "rerank": ("rerank", None),
    "arerank": ("rerank", None),
    "moderation": ("moderation", None),
    "amoderation": ("moderation", None),
}


def operation_of(call_type: str | None) -> tuple[str, str | None]:
    """(gen_ai.operation.name, gen_ai.output.type) for a LiteLLM call type."""
    if not call_type:
        return _Op.CHAT.value, None
    found = _OPERATIONS.get(call_type.strip().lower())
    if found is not None:
        return found
    # Unknown call types (new LiteLLM APIs) keep LiteLLM's own name.
    return call_type.strip().lower(), None


def strip_provider_prefix(model: str, custom_llm_provider: str | None) -> str:
    """``openai/gpt-4o-mini`` → ``gpt-4o-mini`` when the prefix is the serving provider."""
    if custom_llm_provider and model.startswith(custom_llm_provider + "/"):
        return model[len(custom_llm_provider) + 1 :]
    return model


PASS_THROUGH_CALL_TYPE: Final = "pass_through_endpoint"

# The proxy's pass-through routes (/anthropic/..., /openai/..., /vertex_ai/..., /bedrock/...)
# report every call as call type "pass_through_endpoint"; the provider API's path says what it
# was. Endings of the path (lowercase, no query), most specific first.
_PASS_THROUGH_PATHS: Final[tuple[tuple[str, tuple[str, str | None]], ...]] = (
    ("/chat/completions", (_Op.CHAT.value, _Out.TEXT.value)),
    ("/completions", (_Op.TEXT_COMPLETION.value, _Out.TEXT.value)),
    ("/messages", (_Op.CHAT.value, _Out.TEXT.value)),  # Anthropic Messages
    ("/responses", (_Op.CHAT.value, _Out.TEXT.value)),
    ("/converse", (_Op.CHAT.value, _Out.TEXT.value)),  # Bedrock
    ("/converse-stream", (_Op.CHAT.value, _Out.TEXT.value)),
    ("/embeddings", (_Op.EMBEDDINGS.value, None)),
    (":embedcontent", (_Op.EMBEDDINGS.value, None)),  # Gemini / Vertex AI
    (":batchembedcontents", (_Op.EMBEDDINGS.value, None)),
    (":generatecontent", (_Op.GENERATE_CONTENT.value, None)),
    (":streamgeneratecontent", (_Op.GENERATE_CONTENT.value, None)),
    ("/images/generations", (_Op.GENERATE_CONTENT.value, _Out.IMAGE.value)),
    ("/audio/speech", (_Op.GENERATE_CONTENT.value, _Out.SPEECH.value)),
    ("/audio/transcriptions", ("transcription", _Out.TEXT.value)),
    ("/rerank", ("rerank", None)),
)


def provider_of_model(model: str | None) -> str | None:
    """LiteLLM's provider for a model its price map lists (``litellm.model_cost``, loaded in the
    process that reports the call; not imported here)."""
    cost_map = getattr(sys.modules.get("litellm"), "model_cost", None)
    entry = cost_map.get(model) if model and isinstance(cost_map, Mapping) else None
    provider = entry.get("litellm_provider") if isinstance(entry, Mapping) else None
    return provider if isinstance(provider, str) and provider else None


def pass_through_operation(url: str | None) -> tuple[str, str | None]:
    """(gen_ai.operation.name, gen_ai.output.type) of a pass-through call, from the provider URL;
    LiteLLM's own name where the path is not a known LLM operation."""
    if url:
        path = url.partition("?")[0].rstrip("/").lower()
        for ending, operation in _PASS_THROUGH_PATHS:
            if path.endswith(ending):
                return operation
    return PASS_THROUGH_CALL_TYPE, None
