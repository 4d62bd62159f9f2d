"""ARI protocol errors, mapped from HTTP status codes in exactly one place."""

from __future__ import annotations

from hotline.errors import HotlineError


class AriError(HotlineError):
    error_id = "ari-error"

    def __init__(self, message: str, *, status: int = 0, method: str = "", path: str = "") -> None:
        super().__init__(message, status=status, method=method, path=path)
        self.status = status


class AriBadRequest(AriError):
    error_id = "ari-bad-request"


class AriAuthError(AriError):
    error_id = "ari-auth"


class AriNotFound(AriError):
    """The channel, bridge, playback or recording does not exist (any more)."""

    error_id = "ari-not-found"


class AriConflict(AriError):
    """The object is in the wrong state, e.g. a channel not in Stasis."""

    error_id = "ari-conflict"


class AriUnprocessable(AriError):
    error_id = "ari-unprocessable"


class AriServerError(AriError):
    error_id = "ari-server-error"


class AriUnavailable(AriError):
    """Asterisk could not be reached at all."""

    error_id = "ari-unavailable"


class ApplicationReplaced(AriError):
    """Another websocket took over our Stasis application; we must not fight for it."""

    error_id = "ari-application-replaced"


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriAuthError,
    403: AriAuthError,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for_status(status: int, reason: str, method: str, path: str) -> AriError:
    cls = _BY_STATUS.get(status, AriServerError if status >= 500 else AriError)
    return cls(f"{method} {path}: {status} {reason}", status=status, method=method, path=path)
