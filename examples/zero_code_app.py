"""A plain LiteLLM app with no OpenTelemetry code: instrument it with

    opentelemetry-instrument --service_name my-app python examples/zero_code_app.py

otel-llm's instrumentor is picked up through its ``otel_llm`` entry point. The provider
comes from LiteLLM's usual environment (OPENAI_API_KEY, and OPENAI_API_BASE for a
local or proxied endpoint).
"""

import asyncio
import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

MODEL = os.environ.get("EXAMPLE_MODEL", "openai/gpt-4o-mini")


async def ask_async(question: str) -> str:
    response = await litellm.acompletion(model=MODEL, messages=[{"role": "user", "content": question}])
    return str(response.choices[0].message.content)


def main() -> None:
    reply = litellm.completion(model=MODEL, messages=[{"role": "user", "content": "Say hello in one word"}])
    print("sync:", reply.choices[0].message.content)
    # The last call of the script is async: its telemetry is still exported at exit.
    print("async:", asyncio.run(ask_async("And once more, asynchronously")))


if __name__ == "__main__":
    main()
