"""What listens where: ARI/HTTP on loopback whatever SIP's address is, another address
only over TLS (refused at config check otherwise), the controller's HTTP on loopback by
default; and no secret has a default anywhere."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from hotline.app import ASTERISK_CONF, pbx_spec
from hotline.config import Config, load_config
from hotline.errors import ConfigError
from hotline.pbx.instance import Instance, render_includes
from hotline.secrets import ensure_secrets

PUBLIC = "192.0.2.10"  # a documentation address: only written into files, never used


def config_of(tmp_path: Path, **env: str) -> Config:
    return load_config(None, {"HOTLINE_STATE_DIR": str(tmp_path), **env})


def includes(config: Config) -> dict[str, str]:
    return render_includes(pbx_spec(config, ensure_secrets(config.state_dir)))


def test_ari_stays_on_loopback_when_sip_listens_on_a_public_address(tmp_path: Path) -> None:
    config = config_of(tmp_path, HOTLINE_PBX_BIND_ADDRESS=PUBLIC)
    rendered = includes(config)
    assert f"bind = {PUBLIC}:5060" in rendered["pjsip.conf"]
    assert rendered["http.conf"] == "bindaddr = 127.0.0.1\nbindport = 8088\n"
    assert config.ari_url == "http://127.0.0.1:8088"
    assert config.http.host == "127.0.0.1"  # the controller's own HTTP, by default


def test_ari_on_another_address_is_refused_without_tls(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"key 'ari.bind_address': 192.0.2.10 is not a loopback"):
        config_of(tmp_path, HOTLINE_ARI_BIND_ADDRESS=PUBLIC)
    with pytest.raises(ConfigError, match="key 'ari.bind_address': 0.0.0.0 is not a loopback"):
        config_of(tmp_path, HOTLINE_ARI_BIND_ADDRESS="0.0.0.0")
    with pytest.raises(ConfigError, match="key 'ari.bind_address': expected an IP address"):
        config_of(tmp_path, HOTLINE_ARI_BIND_ADDRESS="pbx.example")
    cert = tmp_path / "ari.crt"
    cert.write_text("certificate")
    with pytest.raises(ConfigError, match="set both"):
        config_of(tmp_path, HOTLINE_ARI_BIND_ADDRESS=PUBLIC, HOTLINE_ARI_TLS_CERT=str(cert))
    with pytest.raises(ConfigError, match="key 'ari.tls_key': no such file"):
        config_of(
            tmp_path,
            HOTLINE_ARI_BIND_ADDRESS=PUBLIC,
            HOTLINE_ARI_TLS_CERT=str(cert),
            HOTLINE_ARI_TLS_KEY=str(tmp_path / "absent.key"),
        )


def test_ari_beyond_loopback_listens_over_tls_and_plain_http_stays_on_loopback(
    tmp_path: Path,
) -> None:
    cert, key = tmp_path / "ari.crt", tmp_path / "ari.key"
    cert.write_text("certificate")
    key.write_text("key")
    config = config_of(
        tmp_path,
        HOTLINE_ARI_BIND_ADDRESS=PUBLIC,
        HOTLINE_ARI_TLS_CERT=str(cert),
        HOTLINE_ARI_TLS_KEY=str(key),
    )
    assert includes(config)["http.conf"] == (
        "bindaddr = 127.0.0.1\nbindport = 8088\n"
        f"tlsenable = yes\ntlsbindaddr = {PUBLIC}:8089\n"
        "tlscertfile = /etc/hotline-tls/ari.crt\ntlsprivatekey = /etc/hotline-tls/ari.key\n"
    )
    assert config.ari_url == "http://127.0.0.1:8088"
    args = Instance(pbx_spec(config, ensure_secrets(tmp_path)), None, print)._run_args()  # type: ignore[arg-type]
    assert f"{cert}:/etc/hotline-tls/ari.crt:ro" in args
    assert f"{key}:/etc/hotline-tls/ari.key:ro" in args


def test_ari_on_another_loopback_address_and_on_ipv6_loopback(tmp_path: Path) -> None:
    config = config_of(tmp_path, HOTLINE_ARI_BIND_ADDRESS="127.0.0.9")
    assert includes(config)["http.conf"].startswith("bindaddr = 127.0.0.9\n")
    assert config_of(tmp_path, HOTLINE_ARI_BIND_ADDRESS="::1").ari_url == "http://[::1]:8088"


def test_the_pbx_keeps_its_logs_on_the_host(tmp_path: Path) -> None:
    spec = pbx_spec(config_of(tmp_path), ensure_secrets(tmp_path))
    args = Instance(spec, None, print)._run_args()  # type: ignore[arg-type]
    assert f"{(tmp_path / 'pbx' / 'log').resolve()}:/var/log/asterisk" in args
    logger = (ASTERISK_CONF / "logger.conf").read_text()
    assert re.search(r"^security\.log => security$", logger, flags=re.M)


SECRET_NAMES = re.compile(r"password|secret|token|key$", re.I)


def _defaults(cls: type[Any], prefix: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            found.update(_defaults(hints[f.name], prefix + f.name + "."))
        elif f.default is not dataclasses.MISSING:
            found[prefix + f.name] = f.default
    return found


def test_no_secret_has_a_default_anywhere(tmp_path: Path) -> None:
    # No setting that names a secret carries a value of its own (ari.tls_key: a path,
    # empty by default; ARI's password and the admin token are not settings at all).
    defaults = _defaults(Config)
    assert "ari.tls_key" in defaults and "ari.password" not in defaults
    secrets = {k: v for k, v in defaults.items() if SECRET_NAMES.search(k) and str(v) != "."}
    assert {k: v for k, v in secrets.items() if not isinstance(v, float | int)} == {}
    # The PBX's static files hold no password: they include the generated ones.
    for path in ASTERISK_CONF.glob("*.conf"):
        for line in path.read_text().splitlines():
            assert not re.match(r"\s*(password|secret)\s*=", line, re.I), (path.name, line)
    # Generated per installation: two state folders never share one.
    one, two = ensure_secrets(tmp_path / "a"), ensure_secrets(tmp_path / "b")
    assert one.ari_password != two.ari_password and one.admin_token != two.admin_token
    assert len(one.ari_password) >= 24 and len(one.admin_token) >= 24
    rendered = includes(config_of(tmp_path / "a"))
    assert f"password = {one.ari_password}\n" in rendered["ari-users.conf"]
