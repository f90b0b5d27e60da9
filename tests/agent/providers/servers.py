"""Local servers speaking the cloud speech providers' wire protocols, on 127.0.0.1 with a free port.

Speech they return is real (espeak, synthesized at the rate the protocol promises); transcripts they
return are scripted by the test, since recognizing the audio is not what is under test.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import io
import json
import time
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from outdial.agent.tts.espeak import EspeakTTS

API_KEY = "test-key-123"


@asynccontextmanager
async def serve_asgi(app: Starlette) -> AsyncIterator[str]:
    """Run an ASGI app with uvicorn on a free loopback port; yields its base URL."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _speech(text: str, rate: int) -> AsyncIterator[bytes]:
    async for chunk in EspeakTTS(sample_rate=rate).synthesize(text):
        yield chunk


# --- OpenAI: /v1/audio/transcriptions (multipart) and /v1/audio/speech (streamed PCM) ---------
@dataclass
class OpenAIAudioServer:
    transcripts: list[str] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    speech_requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/audio/transcriptions", self.transcriptions, methods=["POST"]),
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
            ]
        )

    @staticmethod
    def _unauthorized(request: Request) -> Response | None:
        if request.headers.get("authorization") == f"Bearer {API_KEY}":
            return None
        error = {"message": "Incorrect API key provided.", "type": "invalid_request_error"}
        return JSONResponse({"error": {**error, "param": None, "code": "invalid_api_key"}}, 401)

    async def transcriptions(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            head + await request.body()
        )
        form: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            form[str(name)] = payload if part.get_filename() else bytes(payload).decode()
        with wave.open(io.BytesIO(form.pop("file"))) as wav:
            form["sample_rate"] = wav.getframerate()
            form["seconds"] = wav.getnframes() / wav.getframerate()
        self.uploads.append(form)
        return JSONResponse({"text": self.transcripts.pop(0) if self.transcripts else ""})

    async def speech(self, request: Request) -> Response:
        if (denied := self._unauthorized(request)) is not None:
            return denied
        body = await request.json()
        self.speech_requests.append(body)
        if body.get("response_format") != "pcm":
            return JSONResponse({"error": {"message": "this server only speaks pcm"}}, 400)
        return StreamingResponse(_speech(body["input"], 24000), media_type="audio/pcm")


# --- ElevenLabs: POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_16000 -------------
@dataclass
class ElevenLabsServer:
    requests: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/v1/text-to-speech/{voice_id}/stream", self.stream, methods=["POST"])]
        )

    async def stream(self, request: Request) -> Response:
        if request.headers.get("xi-api-key") != API_KEY:
            detail = {"status": "invalid_api_key", "message": "Invalid API key"}
            return JSONResponse({"detail": detail}, 401)
        body = await request.json()
        output_format = request.query_params.get("output_format", "mp3_44100_128")
        self.requests.append(
            {"voice_id": request.path_params["voice_id"], "output_format": output_format, **body}
        )
        codec, rate = output_format.split("_")[:2]
        if codec != "pcm":
            return JSONResponse({"detail": {"message": "this server only speaks pcm"}}, 400)
        return StreamingResponse(_speech(body["text"], int(rate)), media_type="audio/pcm")


# --- Deepgram: the /v1/listen websocket ------------------------------------------------------
@dataclass
class DeepgramServer:
    """Answers each utterance with the next scripted transcript: interim Results as audio arrives,
    a final Results marked from_finalize on Finalize, Metadata on CloseStream."""

    transcripts: list[str] = field(default_factory=list)
    queries: list[dict[str, list[str]]] = field(default_factory=list)
    audio_bytes: list[int] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    finalize_delay: float = 0.01
    url: str = ""

    @asynccontextmanager
    async def running(self) -> AsyncIterator[DeepgramServer]:
        async with serve(self._handle, "127.0.0.1", 0, process_request=self._check) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            yield self

    def _check(self, _: ServerConnection, request: WsRequest) -> WsResponse | None:
        if request.headers.get("Authorization") != f"Token {API_KEY}":
            body = json.dumps({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}).encode()
            return WsResponse(HTTPStatus.UNAUTHORIZED, "Unauthorized", Headers(), body)
        if not request.path.startswith("/v1/listen?"):
            return WsResponse(HTTPStatus.NOT_FOUND, "Not Found", Headers(), b"")
        return None

    def _results(self, text: str, is_final: bool, start: float, duration: float, **extra: Any) -> str:
        alternative = {"transcript": text, "confidence": 0.93 if text else 0.0, "words": []}
        return json.dumps(
            {
                "type": "Results",
                "channel_index": [0, 1],
                "duration": duration,
                "start": start,
                "is_final": is_final,
                "speech_final": is_final,
                "channel": {"alternatives": [alternative]},
                "metadata": {"request_id": "local", "model_info": {"name": "local"}},
                **extra,
            }
        )

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        self.queries.append(query)
        bytes_per_second = int(query["sample_rate"][0]) * 2
        received, start, said = 0, 0.0, 0
        async for message in ws:
            if isinstance(message, bytes):
                received += len(message)
                self.audio_bytes.append(len(message))
                words = (self.transcripts[0] if self.transcripts else "").split()
                # one more word of interim transcript per 300 ms of audio
                if words and received // (bytes_per_second * 3 // 10) > said and said < len(words):
                    said += 1
                    seconds = received / bytes_per_second
                    await ws.send(self._results(" ".join(words[:said]), False, start, seconds - start))
                continue
            control = json.loads(message)["type"]
            self.controls.append(control)
            if control == "Finalize":
                await asyncio.sleep(self.finalize_delay)
                text = self.transcripts.pop(0) if self.transcripts else ""
                end = received / bytes_per_second
                await ws.send(self._results(text, True, start, end - start, from_finalize=True))
                start, said = end, 0
            elif control == "CloseStream":
                metadata = {"type": "Metadata", "request_id": "local", "created": time.time()}
                await ws.send(json.dumps({**metadata, "duration": received / bytes_per_second}))
                await ws.close()
                return
