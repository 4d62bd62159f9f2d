"""Configuration: defaults, YAML, environment overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import load_config
from hotline.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hotline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_loopback_and_the_default_menu() -> None:
    config = load_config(None, {})
    assert config.pbx.bind_address == "127.0.0.1"
    assert config.http.host == "127.0.0.1"
    assert config.menu.file.name == "default-menu.yaml" and config.menu.file.is_file()
    assert config.menu.watch is True and config.menu.clock == ""
    assert config.ari_url == "http://127.0.0.1:8088"
    assert config.db_url.startswith("sqlite+aiosqlite:///")


def test_yaml_then_environment_override(tmp_path: Path) -> None:
    path = write(tmp_path, "pbx:\n  sip_port: 5161\nmenu:\n  file: /srv/menu.yaml\n")
    config = load_config(path, {"HOTLINE_PBX_SIP_PORT": "5262", "HOTLINE_STATE_DIR": "/tmp/x"})
    assert config.pbx.sip_port == 5262
    assert config.menu.file == Path("/srv/menu.yaml")
    assert config.state_dir == Path("/tmp/x")


def test_environment_sets_the_menu_clock_and_watch() -> None:
    config = load_config(
        None, {"HOTLINE_MENU_CLOCK": "2026-10-01T10:00", "HOTLINE_MENU_WATCH": "no"}
    )
    assert config.menu.clock == "2026-10-01T10:00"
    assert config.menu.watch is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pbx:\n  sip_port: abc\n", "key 'pbx.sip_port': expected an integer, got 'abc'"),
        ("pbx:\n  sip_port: 70000\n", "key 'pbx.sip_port': expected a port number 1-65535"),
        ("pbx:\n  sip_prot: 5060\n", "unknown key 'pbx.sip_prot' (did you mean 'pbx.sip_port'?)"),
        ("pbx:\n  agent_dial: PJSIP/8000\n", "key 'pbx.agent_dial': must contain {target}"),
        ("ari: 8088\n", "key 'ari': expected a mapping of settings"),
        ("ari:\n  echo_every: 1\n", "key 'ari.echo_every': must be 0 (off) or at least 5"),
        ("menu:\n  clock: soon\n", "key 'menu.clock': expected a local time"),
        ("menu:\n  message_silence: 2.5\n", "key 'menu.message_silence': expected an integer"),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("pbx:\n\tsip_port: 5060\n", "hotline.yaml:2: not valid YAML"),
    ],
)
def test_invalid_yaml_names_the_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path, {})
    assert expected in err.value.message
    assert str(path) in err.value.message


def test_invalid_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"environment: key 'ari.port': expected an integer"):
        load_config(None, {"HOTLINE_ARI_PORT": "eighty"})
    with pytest.raises(ConfigError, match=r"unknown setting HOTLINE_ARI_PROT.*HOTLINE_ARI_PORT"):
        load_config(None, {"HOTLINE_ARI_PROT": "1"})


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml", {})
