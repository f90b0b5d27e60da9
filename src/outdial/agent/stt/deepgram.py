"""Deepgram live transcription over its websocket (``/v1/listen``): audio out as binary frames, ``Results``
messages in (interim ones become ``Partial``), ``Finalize`` to flush an utterance, ``CloseStream`` to end.

Expected phrases are sent as ``keyterm`` prompts (nova-3). The socket opens when the session does, so the
handshake overlaps the callee's first words; audio fed before it is open is queued, not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from outdial.agent.protocols import Final, Partial

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
KEEPALIVE_SECONDS = 5.0  # Deepgram closes a socket that carried nothing for 10 s
_MAX_KEYTERMS = 50


class TranscriptionError(RuntimeError):
    pass


class DeepgramSession:
    sample_rate = SAMPLE_RATE

    def __init__(self, stt: DeepgramSTT, url: str) -> None:
        self._stt = stt
        self._url = url
        self._outgoing: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self._events: asyncio.Queue[Partial | Final | None] = asyncio.Queue()
        self._segments: list[tuple[str, float]] = []  # finalized pieces of the current utterance
        self._interim = ""
        self._fed = False
        self._flushed = asyncio.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    # -- the protocol -----------------------------------------------------------------------------
    def feed(self, pcm: bytes) -> None:
        if not self._closed and pcm:
            self._fed = True
            self._outgoing.put_nowait(pcm)

    async def finalize(self) -> Final:
        if self._error is not None:
            raise TranscriptionError(f"Deepgram stream failed: {self._error}") from self._error
        if self._fed:
            self._fed = False
            self._flushed.clear()
            self._outgoing.put_nowait(json.dumps({"type": "Finalize"}))
            # Deepgram answers a Finalize with a Results message marked from_finalize when audio was
            # pending; when nothing was, there may be no answer at all: then what we hold is final.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flushed.wait(), self._stt.finalize_timeout)
        if self._error is not None and not self._segments:
            raise TranscriptionError(f"Deepgram stream failed: {self._error}") from self._error
        pieces = self._segments + ([(self._interim, 0.5)] if self._interim else [])
        self._segments, self._interim = [], ""
        if not pieces:
            return Final("", 0.0)
        final = Final(" ".join(text for text, _ in pieces), min(conf for _, conf in pieces))
        self._events.put_nowait(final)
        return final

    async def events(self) -> AsyncIterator[Partial | Final]:
        while (event := await self._events.get()) is not None:
            yield event

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._outgoing.put_nowait(json.dumps({"type": "CloseStream"}))
        self._outgoing.put_nowait(None)
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 2.0)
        except TimeoutError:
            self._task.cancel()
        self._events.put_nowait(None)

    # -- the socket -------------------------------------------------------------------------------
    async def _run(self) -> None:
        try:
            headers = {"Authorization": f"Token {self._stt.api_key}"}
            async with connect(self._url, additional_headers=headers, max_size=2**22) as ws:
                sender = asyncio.create_task(self._send(ws))
                try:
                    async for message in ws:
                        if isinstance(message, str):
                            self._on_message(json.loads(message))
                finally:
                    sender.cancel()
        except (OSError, WebSocketException, json.JSONDecodeError) as exc:
            if not self._closed:
                log.warning("deepgram stream failed: %s", exc)
                self._error = exc
        finally:
            self._flushed.set()

    async def _send(self, ws: ClientConnection) -> None:
        while True:
            try:
                item = await asyncio.wait_for(self._outgoing.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                item = json.dumps({"type": "KeepAlive"})
            if item is None:
                return
            await ws.send(item)

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") != "Results":
            return  # Metadata, SpeechStarted, UtteranceEnd
        alternatives = message.get("channel", {}).get("alternatives") or [{}]
        text = str(alternatives[0].get("transcript", "")).strip()
        if message.get("is_final"):
            if text:
                self._segments.append((text, float(alternatives[0].get("confidence", 1.0))))
            self._interim = ""
            if message.get("from_finalize"):
                self._flushed.set()
        else:
            self._interim = text
        heard = " ".join([t for t, _ in self._segments] + ([self._interim] if self._interim else []))
        if heard and not message.get("from_finalize"):
            self._events.put_nowait(Partial(heard))


class DeepgramSTT:
    def __init__(
        self,
        api_key: str,
        model: str = "nova-3",
        base_url: str = "wss://api.deepgram.com",
        finalize_timeout: float = 1.5,
    ) -> None:
        self.api_key = api_key
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.finalize_timeout = finalize_timeout

    def listen_url(self, expected: Sequence[str] | None, language: str) -> str:
        params = [
            ("encoding", "linear16"),
            ("sample_rate", str(SAMPLE_RATE)),
            ("channels", "1"),
            ("model", self.model),
            ("language", language),
            ("interim_results", "true"),
            ("punctuate", "true"),
        ]
        if expected and self.model.startswith("nova-3"):
            params += [("keyterm", phrase) for phrase in list(dict.fromkeys(expected))[:_MAX_KEYTERMS]]
        return f"{self.base_url}/v1/listen?{urlencode(params)}"

    def open(self, *, expected: Sequence[str] | None = None, language: str = "en-US") -> DeepgramSession:
        return DeepgramSession(self, self.listen_url(expected, language))
