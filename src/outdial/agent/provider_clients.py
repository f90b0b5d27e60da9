"""HTTP clients of the cloud speech providers, shared per event loop.

Sessions are built per call, but a TLS connection to the provider is worth keeping across calls (its
handshake costs more than a first audio chunk); httpx clients belong to the loop they connect on, so
each running loop gets its own, forgotten with the loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import openai

T = TypeVar("T")

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Hashable, Any]] = (
    weakref.WeakKeyDictionary()
)


def shared_client(key: Hashable, create: Callable[[], T]) -> T:
    """The client for ``key`` on the running loop, created on first use."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    if key not in per_loop:
        per_loop[key] = create()
    client: T = per_loop[key]
    return client


def openai_client(api_key: str, base_url: str | None, timeout: float) -> openai.AsyncOpenAI:
    """The OpenAI client of one account on the running loop (STT and TTS of that account share it)."""
    import openai

    return shared_client(
        ("openai", api_key, base_url, timeout),
        lambda: openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=1),
    )
