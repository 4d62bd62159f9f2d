"""A few raw SIP requests over UDP from any loopback address, to try the PBX the way a
stranger would: an INVITE, a REGISTER or an OPTIONS (with digest authentication when
given a password) whose final answer is returned, and requests inside an answered call.
Not a phone: it never sends media, and it ends whatever it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, first value


@dataclass
class Attempt:
    """What one request got: every reply in order, the last one final (none: no answer)."""

    replies: list[Reply]

    @property
    def final(self) -> int:
        return self.replies[-1].status if self.replies else 0

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.replies]


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        self.inbox.put_nowait(data)


def parse(data: bytes) -> Reply | None:
    head = data.decode(errors="replace").split("\r\n\r\n", 1)[0].split("\r\n")
    match = re.match(r"SIP/2\.0 (\d{3}) ?(.*)", head[0])
    if match is None:
        return None  # a request (an OPTIONS, a retransmitted BYE): not ours to answer
    headers: dict[str, str] = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), value.strip())
    return Reply(int(match.group(1)), match.group(2), headers)


def digest(user: str, password: str, method: str, uri: str, challenge: str) -> str:
    fields = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge))
    realm, nonce = fields["realm"], fields["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    cnonce, count = secrets.token_hex(8), f"{1:08x}"  # nonce count: the first use
    answer = hashlib.md5(f"{ha1}:{nonce}:{count}:{cnonce}:auth:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'response="{answer}", algorithm=MD5, qop=auth, nc={count}, cnonce="{cnonce}"'
    )


class _Client:
    """One UDP socket on ``source``, talking to the PBX at ``pbx``."""

    def __init__(self, transport: asyncio.DatagramTransport, sock: _Socket, source: str):
        self.transport, self.sock, self.source = transport, sock, source
        self.port: int = transport.get_extra_info("sockname")[1]

    def via(self) -> str:
        return f"SIP/2.0/UDP {self.source}:{self.port};branch=z9hG4bK{secrets.token_hex(8)};rport"

    def send(self, pbx: tuple[str, int], method: str, uri: str, headers: dict[str, str]) -> None:
        body = _sdp(self.source) if method == "INVITE" else ""
        lines = [f"{method} {uri} SIP/2.0", *(f"{k}: {v}" for k, v in headers.items())]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        self.transport.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), pbx)

    async def final(self, cseq: str, replies: list[Reply], timeout: float) -> Reply | None:
        """The final reply to the request with this CSeq (retransmissions of earlier
        answers are skipped); None when nothing final comes in time."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    reply = parse(await self.sock.inbox.get())
                    if reply is None or reply.headers.get("cseq") != cseq:
                        continue
                    replies.append(reply)
                    if reply.status >= 200:
                        return reply
        except TimeoutError:
            return None


@contextlib.asynccontextmanager
async def _client(source: str) -> AsyncIterator[_Client]:
    loop = asyncio.get_running_loop()
    transport, sock = await loop.create_datagram_endpoint(_Socket, local_addr=(source, 0))
    try:
        yield _Client(transport, sock, source)
    finally:
        transport.close()


@dataclass
class Dialog:
    """An answered INVITE: requests inside the call, and its BYE."""

    client: _Client
    pbx: tuple[str, int]
    uri: str
    from_: str
    to: str  # with the PBX's tag
    call_id: str
    contact: str
    cseq: int = 1
    ended: bool = False

    async def bye(self) -> Attempt:
        self.ended = True
        return await self.request("BYE", {}, timeout=4.0)

    async def request(self, method: str, extra: dict[str, str], timeout: float = 8.0) -> Attempt:
        self.cseq += 1
        headers = {
            "Via": self.client.via(),
            "Max-Forwards": "70",
            "From": self.from_,
            "To": self.to,
            "Call-ID": self.call_id,
            "CSeq": f"{self.cseq} {method}",
            **({"Contact": self.contact} if method == "REFER" else {}),  # a target refresh
            **extra,
        }
        replies: list[Reply] = []
        self.client.send(self.pbx, method, self.uri, headers)
        await self.client.final(headers["CSeq"], replies, timeout)
        return Attempt(replies)


async def _challenged(
    client: _Client,
    pbx: tuple[str, int],
    method: str,
    uri: str,
    headers: dict[str, str],
    user: str,
    password: str,
    timeout: float,
) -> tuple[Attempt, dict[str, str]]:
    """Send a request; answer a digest challenge once when a ``password`` is given.
    Returns every reply and the headers last sent."""
    replies: list[Reply] = []
    authorization = ""
    for cseq in (1, 2):
        headers = {**headers, "Via": client.via(), "CSeq": f"{cseq} {method}"}
        if authorization:
            headers["Authorization"] = authorization
        client.send(pbx, method, uri, headers)
        final = await client.final(headers["CSeq"], replies, timeout)
        if final is None:
            break
        if method == "INVITE" and final.status >= 300:
            # A refusal is acknowledged in the INVITE's own transaction (so the PBX stops
            # repeating it).
            client.send(pbx, "ACK", uri, _in_call(headers, final, f"{cseq} ACK", headers["Via"]))
        challenge = final.headers.get("www-authenticate", "")
        if final.status != 401 or not password or not challenge or authorization:
            break
        authorization = digest(user, password, method, uri, challenge)
    return Attempt(replies), headers


def _in_call(headers: dict[str, str], final: Reply, cseq: str, via: str) -> dict[str, str]:
    keep = ("Max-Forwards", "From", "Call-ID")
    return {
        "Via": via,
        **{k: headers[k] for k in keep},
        "To": final.headers.get("to", ""),
        "CSeq": cseq,
    }


def _first_headers(client: _Client, to: str, from_user: str, pbx_host: str) -> dict[str, str]:
    source, port = client.source, client.port
    return {
        "Max-Forwards": "70",
        "From": f"<sip:{from_user}@{source}>;tag={secrets.token_hex(4)}",
        "To": f"<sip:{to}@{pbx_host}>",
        "Call-ID": f"{secrets.token_hex(8)}@{source}",
        "Contact": f"<sip:{from_user}@{source}:{port}>",
    }


@contextlib.asynccontextmanager
async def answered_call(
    source: str, pbx: tuple[str, int], to: str, from_user: str, timeout: float = 8.0
) -> AsyncIterator[Dialog]:
    """An INVITE that must be answered; the call is hung up (BYE) on leaving, unless the
    test sent its own."""
    async with _client(source) as client:
        uri = f"sip:{to}@{pbx[0]}:{pbx[1]}"
        headers = _first_headers(client, to, from_user, pbx[0])
        attempt, sent = await _challenged(client, pbx, "INVITE", uri, headers, "", "", timeout)
        assert attempt.final == 200, f"the INVITE was not answered: {attempt.statuses}"
        answer = attempt.replies[-1]
        target = re.search(r"<([^>]+)>", answer.headers.get("contact", ""))
        remote = target.group(1) if target else uri
        dialog = Dialog(
            client,
            pbx,
            remote,
            sent["From"],
            answer.headers["to"],
            sent["Call-ID"],
            sent["Contact"],
        )
        client.send(pbx, "ACK", remote, _in_call(sent, answer, "1 ACK", client.via()))
        try:
            yield dialog
        finally:
            if not dialog.ended:
                await dialog.bye()


async def invite(
    source: str,
    pbx: tuple[str, int],
    to: str,
    from_user: str,
    extra: dict[str, str] | None = None,
    password: str = "",
    timeout: float = 8.0,
) -> Attempt:
    """INVITE ``to`` at ``pbx`` from ``source`` (an address on this host) as ``from_user``;
    answers a digest challenge once when a ``password`` is given. A call that is answered
    after all is acknowledged and hung up at once (the test then fails on its status)."""
    async with _client(source) as client:
        uri = f"sip:{to}@{pbx[0]}:{pbx[1]}"
        headers = {**_first_headers(client, to, from_user, pbx[0]), **(extra or {})}
        attempt, sent = await _challenged(
            client, pbx, "INVITE", uri, headers, from_user, password, timeout
        )
        if 200 <= attempt.final < 300:
            answer, cseq = attempt.replies[-1], int(sent["CSeq"].split()[0])
            client.send(pbx, "ACK", uri, _in_call(sent, answer, f"{cseq} ACK", client.via()))
            client.send(pbx, "BYE", uri, _in_call(sent, answer, f"{cseq + 1} BYE", client.via()))
        return attempt


async def register(
    source: str, pbx: tuple[str, int], user: str, password: str = "", timeout: float = 8.0
) -> Attempt:
    """REGISTER as ``user`` with Expires 0: it authenticates like a phone but leaves no
    contact behind (the phone the tests dial stays where it was)."""
    async with _client(source) as client:
        uri = f"sip:{pbx[0]}:{pbx[1]}"
        headers = {**_first_headers(client, user, user, pbx[0]), "Expires": "0"}
        headers["From"] = f"<sip:{user}@{pbx[0]}>;tag={secrets.token_hex(4)}"
        attempt, _ = await _challenged(
            client, pbx, "REGISTER", uri, headers, user, password, timeout
        )
        return attempt


async def options(source: str, pbx: tuple[str, int], timeout: float = 4.0) -> Attempt:
    """An OPTIONS out of any call: whether anything answers SIP there."""
    async with _client(source) as client:
        uri = f"sip:{pbx[0]}:{pbx[1]}"
        headers = _first_headers(client, "ping", "ping", pbx[0])
        attempt, _ = await _challenged(client, pbx, "OPTIONS", uri, headers, "", "", timeout)
        return attempt


def _sdp(source: str) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {source}\r\ns=-\r\nc=IN IP4 {source}\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
