"""The fake PBX's REST surface: the URL shapes ``AriRest`` produces, each mapped to the
handler that checks it the way Asterisk does before acting.

A request for a URL shape not listed here raises ``NotImplementedError``: that is a gap in
the fake, not something Asterisk would say, and must not pass for an ``AriError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from tests.fakes.ari_channels import ChannelRoutes
from tests.fakes.ari_lookups import Call, Handler
from tests.fakes.ari_media import MediaRoutes
from tests.fakes.ari_pbx import Pbx


class Routes(ChannelRoutes, MediaRoutes):
    def __init__(self, pbx: Pbx) -> None:
        super().__init__(pbx)
        table: list[tuple[str, str, Handler]] = [
            ("GET", "/asterisk/ping", self.ping),
            ("POST", "/asterisk/variable", self.set_global),
            ("PUT", "/asterisk/modules/{module}", self.reload_module),
            ("GET", "/applications/{app}", self.application),
            ("GET", "/channels", self.list_channels),
            ("POST", "/channels", self.originate),
            ("POST", "/channels/create", self.create_channel),
            ("GET", "/channels/{id}", self.get_channel),
            ("DELETE", "/channels/{id}", self.hangup),
            ("POST", "/channels/{id}/answer", self.answer),
            ("POST", "/channels/{id}/continue", self.continue_in_dialplan),
            ("POST", "/channels/{id}/play/{playback}", self.play),
            ("POST", "/channels/{id}/dtmf", self.send_dtmf),
            ("POST", "/channels/{id}/variable", self.set_variable),
            ("GET", "/channels/{id}/variable", self.get_variable),
            ("POST", "/channels/{id}/dial", self.dial),
            ("POST", "/channels/{id}/ring", self.ring),
            ("POST", "/channels/{id}/mute", self.mute),
            ("DELETE", "/channels/{id}/mute", self.mute),
            ("POST", "/channels/{id}/moh", self.channel_moh),
            ("DELETE", "/channels/{id}/moh", self.channel_moh),
            ("POST", "/channels/{id}/snoop", self.snoop),
            ("POST", "/channels/{id}/record", self.record),
            ("GET", "/bridges", self.list_bridges),
            ("GET", "/bridges/{id}", self.get_bridge),
            ("POST", "/bridges/{id}", self.create_bridge),
            ("DELETE", "/bridges/{id}", self.destroy_bridge),
            ("POST", "/bridges/{id}/addChannel", self.add_channels),
            ("POST", "/bridges/{id}/removeChannel", self.remove_channels),
            ("POST", "/bridges/{id}/play/{playback}", self.play_to_bridge),
            ("POST", "/bridges/{id}/moh", self.bridge_moh),
            ("DELETE", "/bridges/{id}/moh", self.bridge_moh),
            ("POST", "/bridges/{id}/record", self.record),
            ("GET", "/playbacks/{id}", self.get_playback),
            ("DELETE", "/playbacks/{id}", self.stop_playback),
            ("GET", "/recordings/live/{name}", self.get_live),
            ("POST", "/recordings/live/{name}/stop", self.stop_recording),
            ("GET", "/recordings/stored/{name}", self.get_stored),
            ("DELETE", "/recordings/stored/{name}", self.delete_stored),
            ("GET", "/recordings/stored/{name}/file", self.stored_file),
        ]
        self._table = [(m, t.strip("/").split("/"), h) for m, t, h in table]

    def dispatch(self, method: str, path: str, params: Mapping[str, str], body: Any) -> Any:
        segments = [unquote(s) for s in path.strip("/").split("/")]
        for want_method, template, handler in self._table:
            if want_method != method or len(template) != len(segments):
                continue
            pairs = list(zip(template, segments, strict=True))
            if all(t.startswith("{") or t == s for t, s in pairs):
                ids = tuple(s for t, s in pairs if t.startswith("{"))
                return handler(Call(method, path, ids, params, body))
        raise NotImplementedError(f"the fake PBX does not model {method} {path}")
