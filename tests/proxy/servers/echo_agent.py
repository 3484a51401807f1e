"""A real A2A agent (the a2a-sdk's JSON-RPC server) for the proxy's A2A route tests.

``python echo_agent.py PORT``: answers each message with its text reversed; a message containing
"explode" makes the agent fail.
"""

from __future__ import annotations

import sys

import uvicorn
from a2a.helpers.proto_helpers import get_message_text, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes.agent_card_routes import create_agent_card_routes
from a2a.server.routes.jsonrpc_routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill
from starlette.applications import Starlette


class Reverser(AgentExecutor):
    """Reverses the text it is sent."""

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        text = get_message_text(context.message) if context.message else ""
        if "explode" in text:
            raise RuntimeError("agent exploded")
        await event_queue.enqueue_event(new_text_message(text[::-1], context_id=context.context_id))

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Nothing to cancel: every answer is immediate."""


def main(port: int) -> None:
    card = AgentCard(
        name="echo",
        description="Reverses text",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(url=f"http://127.0.0.1:{port}/", protocol_binding="JSONRPC", protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text"],
        default_output_modes=["text"],
        skills=[AgentSkill(id="reverse", name="reverse", description="Reverses text", tags=["text"])],
    )
    handler = DefaultRequestHandlerV2(agent_executor=Reverser(), task_store=InMemoryTaskStore(), agent_card=card)
    routes = [*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True)]
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(int(sys.argv[1]))
