"""A thin typed REST client for the ARI operations this service uses.

Only query parameters are sent (as Asterisk's own docs recommend), except channel
variables on originate, which go in the JSON body. Every HTTP failure becomes an
``AriError`` subclass through ``error_for_status``; nothing else raises aiohttp errors.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

from hotline.ari.errors import AriUnavailable, error_for_status
from hotline.ari.models import Application, Channel, LiveRecording, Playback

Params = Mapping[str, str | int | float | bool]


class AriRest:
    """REST half of the ARI client. Owns its HTTP session; use ``async with`` or ``close``."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/") + "/ari"
        self._headers = basic_auth_header(username, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self.retry_delays: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0)

    async def __aenter__(self) -> AriRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers=self._headers, timeout=self._timeout)
        return self._session

    async def request(
        self, method: str, path: str, params: Params | None = None, body: Any = None
    ) -> Any:
        """Send one request; return decoded JSON (or None for an empty body).

        A dropped connection is retried a few times (a pooled keep-alive connection may
        have died with a network blip) before Asterisk is declared unreachable.
        """
        query = {k: _param(v) for k, v in (params or {}).items()}
        url = self.base_url + path
        for delay in (*self.retry_delays, None):
            try:
                async with self._http().request(method, url, params=query, json=body) as resp:
                    text = await resp.text()
                    if resp.status >= 400:
                        reason = _reason(text) or resp.reason or ""
                        raise error_for_status(resp.status, reason, method, path)
                    return json.loads(text) if text.strip() else None
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if delay is None:
                    raise AriUnavailable(
                        f"{method} {path}: cannot reach Asterisk at {self.base_url}: "
                        f"{exc or 'timeout'}",
                        method=method,
                        path=path,
                    ) from None
                await asyncio.sleep(delay)

    async def download(self, path: str) -> bytes:
        try:
            async with self._http().get(self.base_url + path) as resp:
                if resp.status >= 400:
                    raise error_for_status(resp.status, resp.reason or "", "GET", path)
                return await resp.read()
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"GET {path}: {exc}", method="GET", path=path) from None

    async def download_to(self, path: str, write: Callable[[bytes], object]) -> int:
        """Stream a GET's body to ``write`` in pieces (a long recording need not fit in
        memory); returns the byte count. ``write`` may raise OSError (a full disk): it
        propagates as is."""
        size = 0
        try:
            async with self._http().get(
                self.base_url + path, timeout=aiohttp.ClientTimeout(total=None, sock_read=30)
            ) as resp:
                if resp.status >= 400:
                    raise error_for_status(resp.status, resp.reason or "", "GET", path)
                async for piece in resp.content.iter_chunked(64 * 1024):
                    write(piece)
                    size += len(piece)
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"GET {path}: {exc}", method="GET", path=path) from None
        return size

    # --- asterisk / applications -------------------------------------------------
    async def ping(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.request("GET", "/asterisk/ping")
        return result

    async def application(self, app: str) -> Application:
        return Application.from_json(await self.request("GET", f"/applications/{_q(app)}"))

    # --- channels ---------------------------------------------------------------------
    async def channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{_q(channel_id)}"))

    async def channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}", {"reason": reason})

    async def continue_in_dialplan(
        self, channel_id: str, context: str = "", extension: str = "", priority: int = 0
    ) -> None:
        params: dict[str, str | int] = {}
        if context:
            params["context"] = context
        if extension:
            params["extension"] = extension
        if priority:
            params["priority"] = priority
        await self.request("POST", f"/channels/{_q(channel_id)}/continue", params)

    async def play(
        self, channel_id: str, playback_id: str, media: list[str], lang: str = ""
    ) -> Playback:
        params: dict[str, str] = {"media": ",".join(media)}
        if lang:
            params["lang"] = lang
        path = f"/channels/{_q(channel_id)}/play/{_q(playback_id)}"
        return Playback.from_json(await self.request("POST", path, params))

    async def send_dtmf(self, channel_id: str, digits: str, between_ms: int = 100) -> None:
        params: dict[str, str | int] = {"dtmf": digits, "between": between_ms, "duration": 100}
        await self.request("POST", f"/channels/{_q(channel_id)}/dtmf", params)

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        params = {"variable": name, "value": value}
        await self.request("POST", f"/channels/{_q(channel_id)}/variable", params)

    async def get_variable(self, channel_id: str, name: str) -> str:
        data = await self.request("GET", f"/channels/{_q(channel_id)}/variable", {"variable": name})
        return str(data.get("value", ""))

    async def create_channel(
        self, endpoint: str, app: str, channel_id: str, app_args: str = "", **extra: str
    ) -> Channel:
        params: dict[str, str] = {"endpoint": endpoint, "app": app, "channelId": channel_id}
        params.update(extra)
        if app_args:
            params["appArgs"] = app_args
        return Channel.from_json(await self.request("POST", "/channels/create", params))

    async def dial(self, channel_id: str, timeout: int = 30, caller: str = "") -> None:
        params: dict[str, str | int] = {"timeout": timeout}
        if caller:
            params["caller"] = caller
        await self.request("POST", f"/channels/{_q(channel_id)}/dial", params)

    async def originate(
        self,
        endpoint: str,
        app: str,
        channel_id: str,
        app_args: str = "",
        caller_id: str = "",
        timeout: int = 30,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "app": app,
            "channelId": channel_id,
            "timeout": timeout,
        }
        if app_args:
            params["appArgs"] = app_args
        if caller_id:
            params["callerId"] = caller_id
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self.request("POST", "/channels", params, body))

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/ring")

    async def mute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/mute", {"direction": direction})

    async def unmute(self, channel_id: str, direction: str = "in") -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}/mute", {"direction": direction})

    async def start_moh(self, channel_id: str, moh_class: str = "") -> None:
        params = {"mohClass": moh_class} if moh_class else {}
        await self.request("POST", f"/channels/{_q(channel_id)}/moh", params)

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}/moh")

    async def snoop(
        self, channel_id: str, snoop_id: str, app: str, spy: str = "in", whisper: str = "none"
    ) -> Channel:
        params = {"app": app, "snoopId": snoop_id, "spy": spy, "whisper": whisper}
        return Channel.from_json(
            await self.request("POST", f"/channels/{_q(channel_id)}/snoop", params)
        )

    async def record(
        self,
        channel_id: str,
        name: str,
        fmt: str = "wav",
        max_duration: int = 0,
        if_exists: str = "overwrite",
        max_silence: int = 0,
        terminate_on: str = "none",
        beep: bool = False,
    ) -> LiveRecording:
        params: dict[str, str | int | bool] = {
            "name": name,
            "format": fmt,
            "ifExists": if_exists,
            "maxDurationSeconds": max_duration,
            "maxSilenceSeconds": max_silence,
            "terminateOn": terminate_on,
            "beep": beep,
        }
        data = await self.request("POST", f"/channels/{_q(channel_id)}/record", params)
        return LiveRecording.from_json(data)

    # --- bridges ----------------------------------------------------------------------------
    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        await self.request("POST", f"/bridges/{_q(bridge_id)}", {"type": kind})

    async def add_to_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        params = {"channel": ",".join(channel_ids)}
        await self.request("POST", f"/bridges/{_q(bridge_id)}/addChannel", params)

    async def remove_from_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        params = {"channel": ",".join(channel_ids)}
        await self.request("POST", f"/bridges/{_q(bridge_id)}/removeChannel", params)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}")

    async def bridge_ids(self) -> list[str]:
        return [b["id"] for b in await self.request("GET", "/bridges")]

    async def bridge(self, bridge_id: str) -> dict[str, Any]:
        """The bridge as ARI describes it (technology, channels, ...)."""
        data: dict[str, Any] = await self.request("GET", f"/bridges/{_q(bridge_id)}")
        return data

    async def play_to_bridge(self, bridge_id: str, playback_id: str, media: list[str]) -> Playback:
        params = {"media": ",".join(media)}
        path = f"/bridges/{_q(bridge_id)}/play/{_q(playback_id)}"
        return Playback.from_json(await self.request("POST", path, params))

    async def start_bridge_moh(self, bridge_id: str, moh_class: str = "") -> None:
        params = {"mohClass": moh_class} if moh_class else {}
        await self.request("POST", f"/bridges/{_q(bridge_id)}/moh", params)

    async def stop_bridge_moh(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}/moh")

    async def record_bridge(
        self, bridge_id: str, name: str, fmt: str = "wav", if_exists: str = "overwrite"
    ) -> LiveRecording:
        params = {"name": name, "format": fmt, "ifExists": if_exists}
        data = await self.request("POST", f"/bridges/{_q(bridge_id)}/record", params)
        return LiveRecording.from_json(data)

    # --- the PBX itself ------------------------------------------------------------------------
    async def set_global(self, name: str, value: str) -> None:
        """Set a dialplan global variable."""
        await self.request("POST", "/asterisk/variable", {"variable": name, "value": value})

    async def reload_module(self, module: str) -> None:
        await self.request("PUT", f"/asterisk/modules/{_q(module)}")

    # --- playbacks and recordings --------------------------------------------------------
    async def playback(self, playback_id: str) -> Playback:
        return Playback.from_json(await self.request("GET", f"/playbacks/{_q(playback_id)}"))

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_q(playback_id)}")

    async def live_recording(self, name: str) -> LiveRecording:
        data = await self.request("GET", f"/recordings/live/{_q(name)}")
        return LiveRecording.from_json(data)

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{_q(name)}/stop")

    async def stored_recording(self, name: str) -> dict[str, Any]:
        return dict(await self.request("GET", f"/recordings/stored/{_q(name)}"))

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{_q(name)}")


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _q(segment: str) -> str:
    """Quote one path segment; recording names contain '/', which ARI wants as %2F."""
    return quote(segment, safe="")


def _param(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _reason(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip()[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else ""
