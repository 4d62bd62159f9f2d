"""One Asterisk container: its generated settings, lifecycle and readiness.

The same code runs the hotline PBX (``hotline pbx up``) and, in the tests, the tester
Asterisk that plays callers and agents' phones. ``asterisk-conf/`` is mounted read-only
as /etc/asterisk; what differs per installation is written to ``<state>/etc`` and mounted
as /etc/hotline, where the static files ``#include`` it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hotline.ari.errors import AriAuthError, AriError
from hotline.ari.rest import AriRest
from hotline.errors import SetupError
from hotline.pbx.guard import BLOCKED_INCLUDE, NO_BLOCKS
from hotline.pbx.podman import Podman

PROMPTS_IN_CONTAINER = "/var/lib/hotline/prompts"
# The static layer (the PBX alone) rings every agent's phone this long.
STATIC_RING_SECONDS = 60
# Folders the dialplan records into (MixMonitor and Record do not make them).
RECORDING_FOLDERS = ("calls", "messages")
RECORDINGS_IN_CONTAINER = "/var/spool/asterisk/recording"
LOGS_IN_CONTAINER = "/var/log/asterisk"
TLS_IN_CONTAINER = "/etc/hotline-tls"


@dataclass(frozen=True)
class TlsListener:
    """ARI/HTTP over TLS, for an ARI reachable beyond this machine."""

    address: str
    port: int
    cert: Path
    key: Path


@dataclass(frozen=True)
class InstanceSpec:
    container: str
    image: str
    conf_dir: Path
    state_dir: Path
    bind_address: str  # SIP (the transport)
    sip_port: int
    ari_port: int
    rtp_start: int
    rtp_end: int
    ari_user: str
    ari_password: str
    # pjsip: the trunk peer, found by address; its contact for calls we place.
    trunk_name: str = "carrier"
    trunk_match: str = "127.0.0.1"
    trunk_contact: str = ""
    # dialplan globals and the hotline numbers (empty for the tester).
    app: str = "hotline"
    numbers: tuple[str, ...] = ()
    # Agents' phones: extension -> SIP password; they register as PJSIP endpoints.
    phones: dict[str, str] = field(default_factory=dict)
    max_call_seconds: int = 3600
    # The menu compiled to dialplan for when the controller is away (empty: none).
    fallback_menu: str = ""
    # Where the dialplan asks the FastAGI fallback (agi://host:port), and every agent's
    # phone for the static layer (Dial strings joined by &).
    fallback_agi: str = ""
    all_phones: str = ""
    # ARI/HTTP listens on its own address, loopback (whatever SIP's is); a TLS listener
    # may be added beside it.
    ari_bind_address: str = "127.0.0.1"
    ari_tls: TlsListener | None = None
    # host path -> container path, mounted read-only
    extra_mounts: dict[Path, str] = field(default_factory=dict)
    # files replacing /etc/asterisk/<name>
    conf_overrides: dict[str, Path] = field(default_factory=dict)

    @property
    def ari_url(self) -> str:
        return f"http://{host_port(self.ari_bind_address, self.ari_port)}"

    @property
    def etc_dir(self) -> Path:
        return self.state_dir / "etc"

    @property
    def recordings_dir(self) -> Path:
        return self.state_dir / "recordings"

    @property
    def log_dir(self) -> Path:
        """Asterisk's logs, the security log among them (read by the controller's guard)."""
        return self.state_dir / "log"


def host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def render_includes(spec: InstanceSpec) -> dict[str, str]:
    """The /etc/hotline/*.conf files for one instance."""
    contact = f"contact = {spec.trunk_contact}\n" if spec.trunk_contact else ""
    numbers = "".join(f"exten => {n},1,Goto(hotline,${{EXTEN}},1)\n" for n in spec.numbers)
    return {
        "pjsip.conf": (
            "[transport-udp]\ntype = transport\nprotocol = udp\n"
            f"bind = {spec.bind_address}:{spec.sip_port}\n\n"
            f"[{spec.trunk_name}]\ntype = identify\nendpoint = {spec.trunk_name}\n"
            f"match = {spec.trunk_match}\n\n"
            f"[{spec.trunk_name}]\ntype = aor\n{contact}"
        ),
        "http.conf": _http(spec),
        "ari-users.conf": (
            f"[{spec.ari_user}]\ntype = user\nread_only = no\n"
            f"password = {spec.ari_password}\npassword_format = plain\n"
        ),
        "rtp.conf": f"rtpstart = {spec.rtp_start}\nrtpend = {spec.rtp_end}\n",
        "globals.conf": (
            f"HOTLINE_APP = {spec.app}\nHOTLINE_MAX_CALL_SECONDS = {spec.max_call_seconds}\n"
            f"HOTLINE_PROMPTS = {PROMPTS_IN_CONTAINER}\n"
            f"HOTLINE_RECORDINGS = {RECORDINGS_IN_CONTAINER}\n"
            f"HOTLINE_FALLBACK_AGI = {spec.fallback_agi}\n"
            f"HOTLINE_ALL_PHONES = {spec.all_phones}\n"
            f"HOTLINE_STATIC_RING = {STATIC_RING_SECONDS}\n"
        ),
        "hotline-numbers.conf": numbers or "; no hotline numbers\n",
        "fallback-menu.conf": spec.fallback_menu or "; no fallback menu\n",
        "phones.conf": "".join(_phone(ext, pw) for ext, pw in sorted(spec.phones.items()))
        or "; no agents' phones\n",
    }


def _http(spec: InstanceSpec) -> str:
    plain = f"bindaddr = {spec.ari_bind_address}\nbindport = {spec.ari_port}\n"
    tls = spec.ari_tls
    if tls is None:
        return plain
    return plain + (
        f"tlsenable = yes\ntlsbindaddr = {host_port(tls.address, tls.port)}\n"
        f"tlscertfile = {TLS_IN_CONTAINER}/ari.crt\ntlsprivatekey = {TLS_IN_CONTAINER}/ari.key\n"
    )


def _phone(extension: str, password: str) -> str:
    """One agent's phone: it registers with its extension and generated password (one
    contact), is known only by that user name with that password, may not REFER, and its
    context has no extensions, so it can be called but cannot dial."""
    return (
        f"[{extension}]\ntype = endpoint\nidentify_by = username\nallow_transfer = no\n"
        "transport = transport-udp\ncontext = agent-phones\n"
        "disallow = all\nallow = ulaw,alaw,g722\ndirect_media = no\ndtmf_mode = rfc4733\n"
        f"rtp_symmetric = yes\nforce_rport = yes\nrewrite_contact = yes\n"
        f"auth = {extension}-auth\naors = {extension}\n\n"
        f"[{extension}-auth]\ntype = auth\nauth_type = userpass\nusername = {extension}\n"
        f"password = {password}\n\n"
        f"[{extension}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n\n"
    )


def write_includes(spec: InstanceSpec) -> None:
    spec.etc_dir.mkdir(parents=True, exist_ok=True)
    spec.recordings_dir.mkdir(parents=True, exist_ok=True)
    for folder in RECORDING_FOLDERS:
        (spec.recordings_dir / folder).mkdir(exist_ok=True)
    spec.log_dir.mkdir(parents=True, exist_ok=True)
    for name, text in render_includes(spec).items():
        path = spec.etc_dir / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
    # Never rendered: the guard's blocks outlive a PBX restart (it lifts them in time).
    try:
        fd = os.open(spec.etc_dir / BLOCKED_INCLUDE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(NO_BLOCKS)


def check_ports_free(spec: InstanceSpec) -> None:
    """One clear sentence per taken port, before podman hides it in a log."""
    listeners = [("udp", spec.bind_address, spec.sip_port, "SIP")]
    listeners.append(("tcp", spec.ari_bind_address, spec.ari_port, "ARI/HTTP"))
    if spec.ari_tls is not None:
        listeners.append(("tcp", spec.ari_tls.address, spec.ari_tls.port, "ARI/HTTPS"))
    for proto, address, port, what in listeners:
        kind = socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, kind) as sock:
            if proto == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                raise SetupError(
                    f"port {port}/{proto} on {address} ({what}) is already in use by "
                    f"another program; stop it or choose another port in the configuration"
                ) from None


class Instance:
    def __init__(self, spec: InstanceSpec, podman: Podman, say: Callable[[str], None]):
        self.spec = spec
        self.podman = podman
        self.say = say

    async def up(self) -> None:
        """Start the container if needed and wait until ARI answers. Idempotent."""
        spec = self.spec
        state = await self.podman.container_state(spec.container)
        if state == "running":
            write_includes(spec)
            self.say(f"{spec.container}: already running")
            await self.wait_ready()
            return
        if state:
            await self.podman.remove(spec.container)
        check_ports_free(spec)
        write_includes(spec)
        await self.podman.run(*self._run_args())
        self.say(f"{spec.container}: started, waiting for ARI on {spec.ari_url}")
        await self.wait_ready()
        self.say(f"{spec.container}: ready")

    def _run_args(self) -> list[str]:
        spec = self.spec
        mounts = [
            f"{spec.conf_dir.resolve()}:/etc/asterisk:ro",
            f"{spec.etc_dir.resolve()}:/etc/hotline:ro",
            f"{spec.recordings_dir.resolve()}:{RECORDINGS_IN_CONTAINER}",
            f"{spec.log_dir.resolve()}:{LOGS_IN_CONTAINER}",
        ]
        if spec.ari_tls is not None:
            mounts += [
                f"{spec.ari_tls.cert.resolve()}:{TLS_IN_CONTAINER}/ari.crt:ro",
                f"{spec.ari_tls.key.resolve()}:{TLS_IN_CONTAINER}/ari.key:ro",
            ]
        mounts += [
            f"{path.resolve()}:/etc/asterisk/{name}:ro"
            for name, path in spec.conf_overrides.items()
        ]
        mounts += [f"{host.resolve()}:{inside}:ro" for host, inside in spec.extra_mounts.items()]
        args = [
            "run",
            "--detach",
            "--name",
            spec.container,
            "--network",
            "host",
            "--label",
            "hotline=pbx",
        ]
        for mount in mounts:
            args += ["--volume", mount]
        return [*args, "--umask", "0077", spec.image, "asterisk", "-f", "-U", "root"]

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        last = ""
        async with AriRest(self.spec.ari_url, self.spec.ari_user, self.spec.ari_password) as ari:
            ari.retry_delays = ()  # we poll anyway
            while time.monotonic() < deadline:
                try:
                    await ari.ping()
                    return
                except AriAuthError:
                    raise SetupError(
                        f"{self.spec.container}: ARI refused our credentials; is another "
                        f"Asterisk listening on {self.spec.ari_url}?"
                    ) from None
                except AriError as exc:
                    last = exc.message
                if await self.podman.container_state(self.spec.container) != "running":
                    logs = await self.logs(tail=20)
                    raise SetupError(f"{self.spec.container} stopped while starting:\n{logs}")
                await asyncio.sleep(0.25)
        raise SetupError(f"{self.spec.container}: ARI did not answer within 60 s ({last})")

    async def down(self) -> None:
        if await self.podman.container_state(self.spec.container):
            await self.podman.remove(self.spec.container)
            self.say(f"{self.spec.container}: stopped and removed")
        else:
            self.say(f"{self.spec.container}: not running")

    async def status(self) -> str:
        return await self.podman.container_state(self.spec.container) or "absent"

    async def logs(self, tail: int = 100) -> str:
        res = await self.podman.run("logs", "--tail", str(tail), self.spec.container, check=False)
        return (res.out + res.err).strip()

    def cli_argv(self, command: str = "") -> list[str]:
        cmd = ["asterisk", "-rx", command] if command else ["asterisk", "-rvvv"]
        return self.podman.exec_argv(self.spec.container, cmd, tty=not command)
