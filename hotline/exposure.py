"""What the PBX exposes beyond this machine, and how it is guarded: configuration that
``hotline.config`` takes in (the ARI listener's checks, the ``security`` section).

ARI can originate calls through the carrier trunk, so it listens on loopback whatever
address SIP has (``pbx.bind_address``); another address only over TLS. Sources that keep
failing SIP authentication are blocked for a while (``hotline.pbx.guard``).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hotline.errors import ConfigError

if TYPE_CHECKING:
    from hotline.config import AriConfig


def ip_address_problem(value: str) -> str | None:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "expected an IP address like 127.0.0.1"
    return None


def _at_least_one(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


def _positive(value: float) -> str | None:
    return None if 0 < value < math.inf else "must be a number more than 0"


@dataclass(frozen=True)
class SecurityConfig:
    """Sources that keep failing SIP authentication are blocked (hotline.pbx.guard)."""

    # This many failed authentications (security events: a wrong password, an unknown user
    # name) from one address within failure_window_seconds block it for block_seconds.
    # The carrier's addresses (pbx.carrier_match) are never blocked.
    max_auth_failures: int = field(default=10, metadata={"check": _at_least_one})
    failure_window_seconds: float = field(default=60.0, metadata={"check": _positive})
    block_seconds: float = field(default=600.0, metadata={"check": _positive})


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def ari_tls(ari: AriConfig) -> bool:
    return str(ari.tls_cert) not in ("", ".")


def ari_http_address(ari: AriConfig) -> str:
    """Where ARI's plain HTTP listens: ari.bind_address when it is loopback, else
    127.0.0.1 (TLS then listens on ari.bind_address)."""
    return ari.bind_address if is_loopback(ari.bind_address) else "127.0.0.1"


def check_ari_listener(ari: AriConfig) -> None:
    """ARI beyond loopback only over TLS, with both of its files."""
    tls = ari_tls(ari)
    if (str(ari.tls_key) in ("", ".")) == tls:
        raise ConfigError("keys 'ari.tls_cert' and 'ari.tls_key': set both (TLS) or neither")
    for key, path in (("ari.tls_cert", ari.tls_cert), ("ari.tls_key", ari.tls_key)):
        if tls and not path.is_file():
            raise ConfigError(f"key '{key}': no such file, got '{path}'")
    if not tls and not is_loopback(ari.bind_address):
        raise ConfigError(
            f"key 'ari.bind_address': {ari.bind_address} is not a loopback address; ARI "
            "can place calls through the trunk, so it listens beyond this machine only over "
            "TLS (set ari.tls_cert and ari.tls_key), or keep it on 127.0.0.1"
        )
