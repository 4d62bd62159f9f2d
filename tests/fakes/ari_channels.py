"""The fake PBX's answers to /asterisk, /applications and /channels requests."""

from __future__ import annotations

from tests.fakes.ari_lookups import Call, Lookups
from tests.fakes.ari_model import (
    ASTERISK_ID,
    DIRECTIONS,
    HANGUP_REASONS,
    FakeChannel,
    Json,
    caller_id,
)


class ChannelRoutes(Lookups):
    # --- asterisk and applications --------------------------------------------------------
    def ping(self, call: Call) -> Json:
        return {"asterisk_id": ASTERISK_ID, "ping": "pong", "timestamp": self.pbx.now()}

    def set_global(self, call: Call) -> None:
        if not call.params.get("variable"):
            raise call.error(400, "Variable name is required")
        self.pbx.globals[call.params["variable"]] = call.params.get("value", "")

    def reload_module(self, call: Call) -> None:
        self.pbx.reloads.append(call.ids[0])

    def application(self, call: Call) -> Json:
        if call.ids[0] != self.pbx.app:
            raise call.error(404, "Application not found")
        return {
            "name": self.pbx.app,
            "channel_ids": [c.id for c in self.pbx.channels.values() if c.subscribed],
            "bridge_ids": list(self.pbx.bridges),
            "endpoint_ids": [],
            "device_names": [],
            "events_allowed": [],
            "events_disallowed": [],
        }

    # --- channels -------------------------------------------------------------------------
    def list_channels(self, call: Call) -> list[Json]:
        return [c.json() for c in self.pbx.channels.values()]

    def get_channel(self, call: Call) -> Json:
        return self.channel(call).json()

    def hangup(self, call: Call) -> None:
        channel = self.channel(call)
        reason = call.params.get("reason") or "normal"
        if reason not in HANGUP_REASONS:
            raise call.error(400, "Invalid reason for hangup provided")
        self.pbx.destroy(channel, HANGUP_REASONS[reason], soft=True)

    def answer(self, call: Call) -> None:
        self.pbx.set_state(self.usable(call), "Up")

    def continue_in_dialplan(self, call: Call) -> None:
        channel = self.usable(call)
        context = call.params.get("context", "")
        if context:
            channel.context = context
            channel.exten = call.params.get("extension") or "s"
            channel.priority = call.number("priority") or 1
        elif call.params.get("extension"):
            channel.exten = call.params["extension"]
            channel.priority = call.number("priority") or 1
        else:
            channel.priority = call.number("priority") or channel.priority + 1
        channel.app_name, channel.app_data = "", ""
        self.pbx.leave_stasis(channel)

    def play(self, call: Call) -> Json:
        channel = self.usable(call)
        return self.new_playback(call, f"channel:{channel.id}", channel.language)

    def send_dtmf(self, call: Call) -> None:
        channel = self.usable(call)
        if not call.params.get("dtmf"):
            raise call.error(400, "DTMF is required")
        channel.sent_dtmf.append(call.params["dtmf"])

    def set_variable(self, call: Call) -> None:
        if not call.params.get("variable"):
            raise call.error(400, "Variable name is required")
        self.control(call).variables[call.params["variable"]] = call.params.get("value", "")

    def get_variable(self, call: Call) -> Json:
        name = call.params.get("variable", "")
        if not name:
            raise call.error(400, "Variable name is required")
        channel = self.channel(call, "Provided channel was not found")
        if name not in channel.variables:
            raise call.error(404, "Provided variable was not found")
        return {"value": channel.variables[name]}

    def _placed(self, call: Call, channel_id: str) -> FakeChannel:
        """A channel we place ourselves, not yet dialled (shared by originate and create)."""
        endpoint = call.params.get("endpoint", "")
        if not endpoint:
            raise call.error(400, "Endpoint must be specified")
        tech, _, resource = endpoint.partition("/")
        if not tech or not resource:
            raise call.error(400, "Invalid endpoint specified")
        if not call.params.get("app"):
            raise call.error(400, "Application or extension must be specified")
        channel_id = channel_id or f"{1764000000 + self.pbx.serial()}.{self.pbx.serial()}"
        if channel_id in self.pbx.channels:
            raise call.error(409, "Channel with given unique ID already exists")
        if self.pbx.script_for(endpoint).kind == "unreachable":
            raise call.error(500, "Allocation failed")
        variables = (call.body or {}).get("variables") or {}
        if not all(isinstance(v, str) for v in variables.values()):
            raise call.error(400, "Only string values in the 'variables' object allowed")
        name, number = caller_id(call.params.get("callerId", ""))
        channel = self.pbx.new_channel(
            channel_id,
            f"{endpoint}-{self.pbx.serial():08x}",
            "Down",
            caller_name=name,
            caller_number=number,
            endpoint=endpoint,
            variables=dict(variables),
            subscribed=call.params["app"] == self.pbx.app,
            app_args=[a for a in call.params.get("appArgs", "").split(",") if a],
        )
        return channel

    def originate(self, call: Call) -> Json:
        channel = self._placed(call, call.params.get("channelId", ""))
        snapshot = channel.json()
        self.pbx.dial(channel)
        return snapshot

    def create_channel(self, call: Call) -> Json:
        channel = self._placed(call, call.params.get("channelId", ""))
        snapshot = channel.json()
        self.pbx.enter_stasis(channel, channel.app_args)  # in the app before it is dialled
        return snapshot

    def dial(self, call: Call) -> None:
        channel = self.control(call)
        if channel.state != "Down" or not channel.endpoint:
            raise call.error(409, "Channel is not in the 'Down' state")
        self.pbx.dial(channel)

    def ring(self, call: Call) -> None:
        self.usable(call).ringing_indicated = True

    def mute(self, call: Call) -> None:
        channel = self.usable(call)
        direction = call.params.get("direction", "")
        if not direction:
            raise call.error(400, "Direction is required")
        if direction not in DIRECTIONS:
            raise call.error(400, "Invalid direction specified")
        if call.method == "POST":
            channel.muted |= DIRECTIONS[direction]
        else:
            channel.muted -= DIRECTIONS[direction]

    def channel_moh(self, call: Call) -> None:
        channel = self.usable(call)
        channel.moh = (call.params.get("mohClass") or "default") if call.method == "POST" else None

    def snoop(self, call: Call) -> Json:
        spy, whisper = call.params.get("spy") or "none", call.params.get("whisper") or "none"
        for name, value in (("spy", spy), ("whisper", whisper)):
            if value not in (*DIRECTIONS, "none"):
                raise call.error(400, f"Invalid direction specified for {name}")
        if spy == "none" and whisper == "none":
            raise call.error(400, "Direction must be specified for at least spy or whisper")
        if not call.params.get("app"):
            raise call.error(400, "Application name is required")
        target = self.channel(call, "Provided channel was not found")
        snoop_id = call.params.get("snoopId") or f"snoop-{self.pbx.serial()}"
        if snoop_id in self.pbx.channels:
            raise call.error(500, "Snoop channel could not be created")
        snoop = self.pbx.new_channel(
            snoop_id,
            f"Snoop/{target.id}-{self.pbx.serial():08x}",
            "Up",
            snoop_of=target.id,
            spy=spy,
            whisper=whisper,
            subscribed=call.params["app"] == self.pbx.app,
        )
        snapshot = snoop.json()
        self.pbx.enter_stasis(snoop, [a for a in call.params.get("appArgs", "").split(",") if a])
        return snapshot
