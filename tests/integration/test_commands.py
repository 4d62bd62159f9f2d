"""The ``hotline`` command's failures are one clear sentence, never a traceback."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.loader import load_menu
from tests.harness.cli import hotline
from tests.harness.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


def assert_one_clear_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("hotline: error:")]
    assert len(lines) == 1, err
    for fragment in fragments:
        assert fragment in lines[0], err


@pytest.fixture
def taken_port() -> Iterator[tuple[socket.socket, int, int]]:
    """A UDP and a TCP socket bound on loopback by 'another program'."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    yield udp, udp.getsockname()[1], tcp.getsockname()[1]
    udp.close()
    tcp.close()


async def test_invalid_config_names_the_key(tmp_path: Path) -> None:
    config = tmp_path / "hotline.yaml"
    config.write_text("pbx:\n  sip_port: five\n")
    code, _, err = await hotline("--config", str(config), "serve")
    assert_one_clear_error(code, err, str(config), "pbx.sip_port", "expected an integer")
    code, _, err = await hotline(
        "serve", env={"HOTLINE_HTTP_PORT": "-1", "HOTLINE_STATE_DIR": str(tmp_path)}
    )
    assert_one_clear_error(code, err, "environment", "http.port", "1-65535")


async def test_podman_missing_is_one_sentence(tmp_path: Path) -> None:
    code, _, err = await hotline(
        "pbx", "up", env={"PATH": str(tmp_path), "HOTLINE_STATE_DIR": str(tmp_path)}
    )
    assert_one_clear_error(code, err, "podman is not installed", "apt-get install podman")


async def test_sip_port_taken_is_one_sentence(
    tmp_path: Path, taken_port: tuple[socket.socket, int, int]
) -> None:
    _, udp_port, _ = taken_port
    env = {
        "HOTLINE_STATE_DIR": str(tmp_path),
        "HOTLINE_PBX_CONTAINER": "hotline-test-taken",
        "HOTLINE_PBX_SIP_PORT": str(udp_port),
        "HOTLINE_ARI_PORT": "8388",
    }
    code, _, err = await hotline("pbx", "up", env=env)
    assert_one_clear_error(code, err, f"port {udp_port}/udp", "(SIP) is already in use")
    code, out, _ = await hotline("pbx", "status", env=env)
    assert out.strip() == "absent"  # nothing was started


async def test_ari_port_taken_is_one_sentence(
    tmp_path: Path, taken_port: tuple[socket.socket, int, int]
) -> None:
    _, _, tcp_port = taken_port
    env = {
        "HOTLINE_STATE_DIR": str(tmp_path),
        "HOTLINE_PBX_CONTAINER": "hotline-test-taken",
        "HOTLINE_PBX_SIP_PORT": "5390",
        "HOTLINE_ARI_PORT": str(tcp_port),
    }
    code, _, err = await hotline("pbx", "up", env=env)
    assert_one_clear_error(code, err, f"port {tcp_port}/tcp", "(ARI/HTTP) is already in use")


async def test_controller_http_port_taken_is_one_sentence(
    tmp_path: Path, taken_port: tuple[socket.socket, int, int]
) -> None:
    _, _, tcp_port = taken_port
    env = {"HOTLINE_STATE_DIR": str(tmp_path), "HOTLINE_HTTP_PORT": str(tcp_port)}
    code, _, err = await hotline("serve", env=env)
    assert_one_clear_error(code, err, f"port {tcp_port}/tcp", "controller HTTP")


async def test_pbx_up_is_idempotent_and_status_tells(stack: Stack) -> None:
    config = str(stack.config_file)
    code, out, err = await hotline("--config", config, "pbx", "up")
    assert code == 0, err
    assert "hotline-test-pbx: already running" in out
    code, out, _ = await hotline("--config", config, "pbx", "status")
    assert (code, out.strip()) == (0, "running")
    code, out, _ = await hotline("--config", config, "pbx", "cli", "-x", "core show version")
    assert code == 0 and "Asterisk 22." in out


async def test_menu_check_passes_the_default_and_names_a_broken_key(tmp_path: Path) -> None:
    code, out, err = await hotline("menu", "check", "ivr/default-menu.yaml")
    assert code == 0, out + err
    nodes = len(load_menu(ROOT / "ivr" / "default-menu.yaml").nodes)
    assert out.startswith(f"ok: ivr/default-menu.yaml: {nodes} nodes")
    broken = tmp_path / "menu.yaml"
    text = (ROOT / "ivr" / "default-menu.yaml").read_text(encoding="utf-8")
    broken.write_text(text.replace('"9": english', '"9": englsh'), encoding="utf-8")
    code, out, _ = await hotline("menu", "check", str(broken))
    assert code == 1
    line = text.splitlines().index('      "9": english') + 1
    assert f"error: {broken}:{line}: nodes.main.keys.9: no node named 'englsh' " in out


async def test_menu_graph_writes_a_picture_of_every_node(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    svg = tmp_path / "menu.svg"
    code, out, err = await hotline("menu", "graph", "ivr/default-menu.yaml", "-o", str(svg))
    assert code == 0, err
    root = ET.parse(svg).getroot()
    titles = {t.text for t in root.iter("{http://www.w3.org/2000/svg}title")}
    for node_id in ("welcome", "main", "repair", "account-pin", "goodbye"):
        assert node_id in titles
    assert "main&#45;&gt;repair" in svg.read_text() or "main->repair" in titles
