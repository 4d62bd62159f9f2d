"""ARI HTTP failures map to one exception class per meaning, in one place."""

from __future__ import annotations

import pytest

from hotline.ari import errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.AriBadRequest),
        (401, errors.AriAuthError),
        (404, errors.AriNotFound),
        (409, errors.AriConflict),
        (422, errors.AriUnprocessable),
        (500, errors.AriServerError),
        (503, errors.AriServerError),
        (418, errors.AriError),
    ],
)
def test_status_maps_to_error(status: int, cls: type[errors.AriError]) -> None:
    err = errors.error_for_status(status, "Channel not found", "GET", "/channels/x")
    assert type(err) is cls
    assert err.status == status
    assert err.details == {"status": status, "method": "GET", "path": "/channels/x"}
    assert "GET /channels/x" in err.message and "Channel not found" in err.message
