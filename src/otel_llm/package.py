"""The instrumented library: the LiteLLM releases otel-llm supports and the ones CI tests.

No upper bound: installing otel-llm into an environment with a newer LiteLLM never changes its
version, and a LiteLLM security release needs no otel-llm release. The callback works on any
release that keeps LiteLLM's logging contract (``CustomLogger`` hooks and the
``standard_logging_object``); the instrumentor checks each patch target at instrument time and
leaves one that no longer fits unpatched, with a warning. CI runs the fast suite and the proxy's
end-to-end tests on both ends of ``TESTED`` and on the newest release the registry serves.
"""

# Mirrors the ``instruments`` extra (pyproject.toml); 1.82.7 and 1.82.8 were compromised releases.
_instruments = ("litellm >= 1.102.4, != 1.82.7, != 1.82.8",)

# The oldest supported release and the newest one tested when this otel-llm was released
# (tests/compat/litellm-<version>.txt): the doctor reports the installed LiteLLM against them.
TESTED = ("1.102.4", "1.110.2")
