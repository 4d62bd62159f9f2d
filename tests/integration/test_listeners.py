"""ARI is not reachable on the SIP address: a PBX of its own whose SIP listens on a second
loopback address (127.0.0.2, as a public address would be) answers SIP there and ARI only
on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from hotline.app import pbx_spec
from hotline.ari.rest import AriRest
from hotline.config import load_config
from hotline.pbx.instance import Instance
from hotline.pbx.podman import Podman
from hotline.secrets import ensure_secrets
from tests.harness.sip import options
from tests.harness.stack import TEST_ACD

SIP_ADDRESS = "127.0.0.2"
SIP_PORT, ARI_PORT, RTP = 5180, 8198, 24500  # clear of the suite's stack and of make run


@pytest.fixture
async def pbx_on_a_second_address() -> AsyncIterator[Instance]:
    state = Path(tempfile.mkdtemp(prefix="hotline-listen-"))
    settings = {
        "state_dir": str(state),
        "pbx": {
            "container": "hotline-test-listen",
            "bind_address": SIP_ADDRESS,
            "sip_port": SIP_PORT,
            "rtp_start": RTP,
            "rtp_end": RTP + 99,
        },
        "ari": {"port": ARI_PORT},
        "acd": {"file": str(TEST_ACD)},
    }
    (state / "hotline.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    config = load_config(state / "hotline.yaml", {})
    config.prompts_dir.mkdir(parents=True)  # mounted into the PBX; nothing plays here
    instance = Instance(pbx_spec(config, ensure_secrets(state)), Podman(os.environ), print)
    await instance.podman.remove(instance.spec.container)  # left by an interrupted run
    try:
        await instance.up()
        yield instance
    finally:
        await instance.down()


async def test_ari_is_not_reachable_on_the_sip_address(pbx_on_a_second_address: Instance) -> None:
    spec = pbx_on_a_second_address.spec
    assert (spec.bind_address, spec.ari_bind_address) == (SIP_ADDRESS, "127.0.0.1")
    # SIP answers on its address (a stranger's OPTIONS is challenged: an answer all the
    # same), and not on 127.0.0.1.
    assert (await options("127.0.0.1", (SIP_ADDRESS, SIP_PORT))).final in (200, 401)
    assert (await options("127.0.0.1", ("127.0.0.1", SIP_PORT), timeout=1.5)).final == 0
    # ARI answers on loopback...
    async with AriRest(spec.ari_url, spec.ari_user, spec.ari_password) as ari:
        assert "asterisk_id" in await ari.ping()
    assert spec.ari_url == f"http://127.0.0.1:{ARI_PORT}"
    # ... and nothing listens on the SIP address's HTTP port.
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection((SIP_ADDRESS, ARI_PORT), 2),
    ):
        pass
