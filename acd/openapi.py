"""The agents' and supervisors' ACD routes as OpenAPI ``paths`` (hotline.openapi builds
the document from every feature's paths)."""

from __future__ import annotations

from typing import Any

from hotline.openapi import operation as op


def openapi_paths() -> dict[str, Any]:
    state_body = {
        "properties": {
            "state": {"enum": ["ready", "not-ready", "break"]},
            "reason": {"type": "string"},
        },
        "required": ["state"],
    }
    login = op(
        "log in at one of my desks (the extension in the ACD file or one of its desks: "
        "else 403 number-refused, colleagues-desk or not-a-desk; 409 desk-in-use while a "
        "colleague is logged in there); returns a bearer token",
        body={
            "properties": {
                "agent": {"type": "string"},
                "extension": {"type": "string"},
                "password": {"type": "string"},
                "lifetime": {"type": "number", "description": "seconds, at most the default"},
            },
            "required": ["agent", "extension", "password"],
        },
    )
    login["security"] = []
    return {
        "/api/login": {"post": login},
        "/api/logout": {"post": op("log out (after the current call) and end every token")},
        "/api/me": {"get": op("my state, skills and queues")},
        "/api/me/state": {"post": op("ready / not ready (reason) / break", body=state_body)},
        "/api/me/mute": {"post": op("mute or unmute")},
        "/api/me/wrap-up/end": {"post": op("end my wrap-up now (409 when not in wrap-up)")},
        "/api/me/password": {"post": op("change my password")},
        "/api/me/queues/{queue}": {"post": op("sign in to or out of a skill group")},
        "/api/me/missed": {"get": op("calls offered to me that I did not answer")},
        "/api/queues": {"get": op("the calls waiting in my queues")},
        "/api/live": {"get": op("queues, waiting calls and agents", supervisor=True)},
        "/api/agents/{agent}/state": {
            "post": op("force ready / not ready / break / logged-out", supervisor=True)
        },
        "/api/me/call": {"get": op("my current call: the screen pop")},
        "/api/me/call/{action}": {
            "post": op(
                "hold, resume, transfer {to: queue:NAME, agent:NUMBER or outside:NUMBER}, "
                "sequence {kind}, survey {enabled, now} on my call; an outside number the "
                "outbound policy refuses is 403 number-refused with details.reason (role, "
                "international, premium, not-allowed) and is never dialled"
            )
        },
        "/api/calls/{call}/pickup": {"post": op("take a call ringing at another agent")},
        "/api/calls/{call}/supervise": {
            "post": op("listen, whisper, barge or take over", supervisor=True)
        },
        "/api/calls/{call}/hangup": {"post": op("force the call to end", supervisor=True)},
        "/api/events": {"get": op("live events over a WebSocket (token= in the query)")},
    }
