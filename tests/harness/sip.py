"""A few raw SIP requests over UDP from any loopback address, to try the PBX the way a
stranger would: an INVITE (with digest authentication when given a password) whose final
answer is returned. Not a phone: it never sends media, and it ends whatever it started.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from dataclasses import dataclass, field


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names, first value


@dataclass
class Attempt:
    """What one INVITE got: every reply in order, the last one final."""

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
    loop = asyncio.get_running_loop()
    transport, sock = await loop.create_datagram_endpoint(_Socket, local_addr=(source, 0))
    port = transport.get_extra_info("sockname")[1]
    call_id, tag = f"{secrets.token_hex(8)}@{source}", secrets.token_hex(4)
    uri = f"sip:{to}@{pbx[0]}:{pbx[1]}"
    replies: list[Reply] = []
    try:
        authorization = ""
        for cseq in (1, 2):
            branch = f"z9hG4bK{secrets.token_hex(8)}"
            headers = {
                "Via": f"SIP/2.0/UDP {source}:{port};branch={branch};rport",
                "Max-Forwards": "70",
                "From": f"<sip:{from_user}@{source}>;tag={tag}",
                "To": f"<sip:{to}@{pbx[0]}>",
                "Call-ID": call_id,
                "CSeq": f"{cseq} INVITE",
                "Contact": f"<sip:{from_user}@{source}:{port}>",
                **(extra or {}),
            }
            if authorization:
                headers["Authorization"] = authorization
            transport.sendto(_request("INVITE", uri, headers, _sdp(source)), pbx)
            final = await _final(sock, replies, timeout)
            # A final answer is acknowledged in the INVITE's own transaction (so the PBX
            # stops repeating it); an answered call is ended at once, in one of its own.
            _send(transport, pbx, "ACK", uri, headers, final, cseq, headers["Via"])
            if final.status >= 200 and final.status < 300:
                via = (
                    headers["Via"].rsplit("branch=", 1)[0] + f"branch=z9hG4bK{secrets.token_hex(8)}"
                )
                _send(transport, pbx, "BYE", uri, headers, final, cseq + 1, via)
            challenge = final.headers.get("www-authenticate", "")
            if final.status != 401 or not password or not challenge or authorization:
                break
            authorization = digest(from_user, password, "INVITE", uri, challenge)
        return Attempt(replies)
    finally:
        transport.close()


async def _final(sock: _Socket, replies: list[Reply], timeout: float) -> Reply:
    async with asyncio.timeout(timeout):
        while True:
            reply = parse(await sock.inbox.get())
            if reply is None:
                continue
            replies.append(reply)
            if reply.status >= 200:
                return reply


def _send(
    transport: asyncio.DatagramTransport,
    pbx: tuple[str, int],
    method: str,
    uri: str,
    invite_headers: dict[str, str],
    final: Reply,
    cseq: int,
    via: str,
) -> None:
    headers = {
        "Via": via,
        "Max-Forwards": "70",
        "From": invite_headers["From"],
        "To": final.headers.get("to", ""),
        "Call-ID": invite_headers["Call-ID"],
        "CSeq": f"{cseq} {method}",
    }
    transport.sendto(_request(method, uri, headers), pbx)


def _request(method: str, uri: str, headers: dict[str, str], body: str = "") -> bytes:
    lines = [f"{method} {uri} SIP/2.0", *(f"{k}: {v}" for k, v in headers.items())]
    if body:
        lines.append("Content-Type: application/sdp")
    lines.append(f"Content-Length: {len(body.encode())}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def _sdp(source: str) -> str:
    return (
        f"v=0\r\no=- 1 1 IN IP4 {source}\r\ns=-\r\nc=IN IP4 {source}\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
