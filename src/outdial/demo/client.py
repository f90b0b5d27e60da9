"""A small client of the public REST API: what ``outdial demo`` and ``outdial call`` need, over real HTTP."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

TERMINAL = frozenset({"completed", "no_answer", "busy", "failed", "canceled"})


class ApiError(Exception):
    """An error answer of the API (its stable ``code`` and sentence), or no answer at all."""

    def __init__(self, status: int | None, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class OutdialClient:
    """``async with OutdialClient(url, key) as api: await api.create_call({...})``."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "outdial-cli"},
            timeout=timeout,
        )

    async def __aenter__(self) -> OutdialClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(None, "unreachable", f"cannot reach outdial at {self.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", response.text[:200]
            raise ApiError(response.status_code, code, message)
        return response.json()

    # --- resources ------------------------------------------------------------------------------
    async def create_agent(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.request("POST", "/v1/agents", json=body))

    async def create_trunk(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.request("POST", "/v1/sip-trunks", json=body))

    async def create_number(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.request("POST", "/v1/phone-numbers", json=body))

    async def verify_number(self, number_id: str) -> dict[str, Any]:
        return dict(await self.request("POST", f"/v1/phone-numbers/{number_id}/verify-voip"))

    async def create_call(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self.request("POST", "/v1/calls", json=body))

    async def get_call(self, call_id: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"/v1/calls/{call_id}"))

    async def transcript(self, call_id: str) -> dict[str, Any] | None:
        """The call's transcript; None when it has none (not answered, or purged)."""
        try:
            return dict(await self.request("GET", f"/v1/calls/{call_id}/transcript"))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
