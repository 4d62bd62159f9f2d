"""An agent's or supervisor's desktop: the controller's /api over HTTP, as a client uses it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import aiohttp


class ApiRefused(AssertionError):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


class Desk:
    def __init__(self, base_url: str, agent: str, token: str = "") -> None:
        self.base_url = base_url
        self.agent = agent
        self.token = token

    @classmethod
    async def login(
        cls, base_url: str, agent: str, extension: str, password: str, **extra: Any
    ) -> Desk:
        desk = cls(base_url, agent)
        body = await desk.post(
            "/api/login",
            {"agent": agent, "extension": extension, "password": password, **extra},
        )
        desk.token = body["token"]
        return desk

    async def request(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base_url + path, json=body, headers=headers) as resp,
        ):
            data: dict[str, Any] = await resp.json(content_type=None) or {}
            return resp.status, data

    async def get(self, path: str) -> dict[str, Any]:
        status, data = await self.request("GET", path)
        if status != 200:
            raise ApiRefused(status, data)
        return data

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, data = await self.request("POST", path, body or {})
        if status != 200:
            raise ApiRefused(status, data)
        return data

    async def ready(self) -> dict[str, Any]:
        return await self.post("/api/me/state", {"state": "ready"})

    async def me(self) -> dict[str, Any]:
        return await self.get("/api/me")

    async def wait_me(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float, what: str
    ) -> dict[str, Any]:
        """Poll /api/me until ``predicate`` holds; the last answer is in the failure."""
        deadline = time.monotonic() + timeout
        while True:
            me = await self.me()
            if predicate(me):
                return me
            if time.monotonic() > deadline:
                raise AssertionError(f"agent {self.agent}: not {what} in {timeout} s: {me}")
            await asyncio.sleep(0.1)
