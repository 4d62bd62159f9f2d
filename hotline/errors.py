"""Domain errors: a stable id, a message for people, and details for machines."""

from __future__ import annotations

from typing import Any


class HotlineError(Exception):
    """Base of every error the service raises on purpose."""

    error_id = "hotline-error"
    http_status = 500

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.details!r})"

    def as_dict(self) -> dict[str, Any]:
        return {"error_id": self.error_id, "message": self.message, "details": self.details}


class ConfigError(HotlineError):
    """The configuration is invalid; the message names the key and the source."""

    error_id = "invalid-config"
    http_status = 400


class SetupError(HotlineError):
    """Something the service needs on this machine is missing or taken."""

    error_id = "setup-error"
