"""Every credential the test suite hands to LiteLLM, the proxy or a fake provider.

None of them may appear in any byte otel-llm exports during the whole suite (checked at
the end of the session by tests/conftest.py).
"""

from __future__ import annotations

import hashlib

from tests.proxy.harness import KEYS, MASTER_KEY, PROVIDER_KEY
from tests.proxy.hops_harness import KEYS as HOP_KEYS

URL_PASSWORD = "hunter2-url-password"
QUERY_KEY = "AIzaSyQueryKeyInUrl00000000000"

CREDENTIALS: tuple[str, ...] = (
    MASTER_KEY,
    PROVIDER_KEY,
    *KEYS,
    *(hashlib.sha256(key.encode()).hexdigest() for key in KEYS),  # LiteLLM's unsalted key hashes
    *HOP_KEYS,  # the MCP, guardrail and A2A tests' keys
    *(hashlib.sha256(key.encode()).hexdigest() for key in HOP_KEYS),
    "sk-test-provider-key-0123456789",
    "sk-example-provider-key-000",
    "sk-openai-example",
    "sk-ant-example",
    "sk-virtual-key-123456",
    URL_PASSWORD,
    QUERY_KEY,
    "zq7-Unknown-Provider-Key-Shape-0001",  # shapes no redaction pattern knows (test_failures.py)
    "plainpassphrase-with-no-shape",
    "sk-vk-query-string-key-7a1b2c3d",  # a virtual key sent as ?key= (tests/proxy/test_proxy.py)
)
# Header names and schemes that must never be exported, whatever their value.
HEADER_MARKERS: tuple[bytes, ...] = (b"Bearer sk-", b"authorization:", b"x-api-key:")
