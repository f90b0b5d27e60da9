"""A local OpenAI-compatible chat-completions server speaking the real streaming (SSE) protocol.

The test double sits at the wire: the code under test talks to it through the ``openai`` SDK.
Each request pops the next scripted reply: a list of deltas (``{"content": ...}`` or
``{"tool_calls": [...]}``), streamed as ``data: {chunk}`` lines with ``delay`` seconds between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route


def text(*parts: str) -> list[dict[str, Any]]:
    return [{"content": p} for p in parts]


def tool_call(index: int, call_id: str, name: str, arguments: str, pieces: int = 3) -> list[dict[str, Any]]:
    """A tool call as the API streams it: the name first, then the arguments in fragments."""
    step = max(1, len(arguments) // pieces)
    frags = [arguments[i : i + step] for i in range(0, len(arguments), step)] or [""]
    head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
    return [{"tool_calls": [head]}] + [
        {"tool_calls": [{"index": index, "function": {"arguments": f}}]} for f in frags
    ]


@dataclass
class ChatServer:
    replies: list[list[dict[str, Any]]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    delay: float = 0.0
    base_url: str = ""
    sent_at: list[float] = field(default_factory=list)  # loop time each chunk went out

    async def _completions(self, request: Request) -> StreamingResponse | JSONResponse:
        body = await request.json()
        self.requests.append(body)
        if request.headers.get("authorization") != "Bearer test-key":
            return JSONResponse({"error": {"message": "bad key", "type": "invalid_request_error"}}, 401)
        deltas = self.replies.pop(0) if self.replies else text("")
        has_tools = any("tool_calls" in d for d in deltas)

        async def stream() -> AsyncIterator[bytes]:
            first = {"role": "assistant", "content": ""}
            for i, delta in enumerate([first, *deltas]):
                if i and self.delay:
                    await asyncio.sleep(self.delay)
                yield _line(_chunk(body["model"], delta, None))
                self.sent_at.append(asyncio.get_running_loop().time())
            yield _line(_chunk(body["model"], {}, "tool_calls" if has_tools else "stop"))
            yield b"data: [DONE]\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def _line(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


@contextlib.asynccontextmanager
async def running_chat_server() -> AsyncIterator[ChatServer]:
    server_state = ChatServer()
    app = Starlette(routes=[Route("/v1/chat/completions", server_state._completions, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for this
        await asyncio.sleep(0.01)
    server_state.base_url = f"http://127.0.0.1:{port}/v1"
    try:
        yield server_state
    finally:
        server.should_exit = True
        await task
        sock.close()
