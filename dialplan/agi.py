"""FastAGI: the few decisions of the fallback dialplan that need data, answered without
the controller.

The dialplan asks with ``AGI(agi://127.0.0.1:<port>/<request>)``; Asterisk connects, sends
the AGI environment (``agi_xxx: value`` lines ended by a blank line), and then answers
each command we send (``VERB args``) with ``200 result=N [(data)]``. A request is a named
handler (``agi_network_script``) that reads the environment and sets channel variables;
the dialplan goes on with what they say.

**asyncio, not a thread per connection.** The service lives beside an asyncio controller
and shares its database layer (SQLAlchemy's async engine): an async handler reads the
blacklist exactly as the IVR does, with no second, blocking database stack. Every
connection gets one deadline for its whole exchange (``asyncio.timeout``), which a thread
stuck in a blocking ``readline`` cannot have; and closing the server cancels every
connection and is over within a bound, where threads can only be waited for. A burst of
calls at the start of an outage costs coroutines, not threads.

**Our own protocol code, not pyst2's ``asterisk.agi.AGI``.** That class is a blocking
file-object reader, so over asyncio it would need a thread per connection; and its
constructor installs a SIGHUP handler (``signal.signal``), which raises in any thread but
the main one and in the main one would replace the process's own handling; it writes every
environment line (the caller's number) and every command to stderr; and its quoting lets a
``"`` in a value end the argument. The part of the protocol the fallback needs is the
environment block and a command/result exchange: about a hundred lines here, with a
deadline, bounded line lengths and values checked before they are sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

MAX_LINE = 4096  # bytes of one line from Asterisk (an environment line, a result)
MAX_ENVIRONMENT = 200  # lines of the environment block; Asterisk sends about 25
# A variable's name and value as we send them: what the dialplan reads, never anything
# that could end the quoted argument or start another command.
SAFE_VARIABLE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
# Dial strings (PJSIP/7101@carrier&PJSIP/7102@carrier) and file paths are values too.
SAFE_VALUE = re.compile(r"^[A-Za-z0-9_.+@/&:-]{0,2048}$")
_RESULT = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<rest>.*)$")
_RESULT_VALUE = re.compile(r"result=(?P<value>-?\d+)(?:\s+\((?P<data>[^)]*)\))?")
# How a request ended, as /metrics counts it. A connection cancelled by ``close`` is not
# counted: the process is stopping.
OUTCOMES = ("answered", "hangup", "failed", "timeout")
UNKNOWN_REQUEST = "unknown"  # any name no handler has: the label's values stay bounded


class AgiError(HotlineError):
    """Asterisk answered what the protocol does not allow, or not in time."""

    error_id = "agi-protocol-error"


class AgiHangup(AgiError):
    """The caller hung up: Asterisk says ``HANGUP`` or refuses commands on a dead channel."""

    error_id = "agi-hangup"


@dataclass(frozen=True)
class AgiResult:
    code: int
    result: int
    data: str


class AgiSession:
    """One FastAGI connection: the environment Asterisk sent, and commands to it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self.env: dict[str, str] = {}

    @property
    def args(self) -> list[str]:
        """The arguments of ``AGI(url,arg1,arg2,...)``, in order (empty ones included)."""
        found: list[str] = []
        for number in range(1, MAX_ENVIRONMENT):
            value = self.env.get(f"agi_arg_{number}")
            if value is None:
                return found
            found.append(value)
        return found

    @property
    def request(self) -> str:
        """The handler asked for: ``blacklist-check`` of ``agi://host:port/blacklist-check``."""
        return self.env.get("agi_network_script", "").split("?", 1)[0].strip("/")

    async def read_environment(self) -> None:
        for _ in range(MAX_ENVIRONMENT):
            line = await self._line()
            if line == "":
                return
            key, sep, value = line.partition(":")
            if not sep or not key.startswith("agi_"):
                raise AgiError(f"not an AGI environment line: {line[:80]!r}")
            self.env[key.strip()] = value.strip()
        raise AgiError(f"the AGI environment has more than {MAX_ENVIRONMENT} lines")

    async def set_variable(self, name: str, value: str) -> AgiResult:
        if not SAFE_VARIABLE.match(name) or not SAFE_VALUE.match(value):
            raise AgiError(f"refusing to send variable {name!r}={value!r}")
        return await self.command(f'SET VARIABLE {name} "{value}"')

    async def command(self, command: str) -> AgiResult:
        if "\n" in command or "\r" in command:
            raise AgiError("an AGI command is one line")
        self._writer.write(command.encode() + b"\n")
        await self._writer.drain()
        line = await self._line()
        if line == "HANGUP":  # FastAGI tells of the hang-up in the result stream
            raise AgiHangup("the caller hung up", command=command)
        found = _RESULT.match(line)
        if found is None:
            raise AgiError(f"not an AGI result: {line[:80]!r}", command=command)
        code = int(found["code"])
        if found["sep"] == "-":  # 520-...: usage text, up to the "520 " line
            while not (await self._line()).startswith(f"{code} "):
                pass
            raise AgiError(f"Asterisk refused {command!r} ({code})", command=command)
        if code == 511:
            raise AgiHangup("the channel is gone", command=command)
        value = _RESULT_VALUE.search(found["rest"])
        if code != 200 or value is None:
            raise AgiError(f"Asterisk answered {line[:80]!r} to {command!r}", command=command)
        return AgiResult(code, int(value["value"]), value["data"] or "")

    async def _line(self) -> str:
        try:
            raw = await self._reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as closed:
            raise AgiHangup("Asterisk closed the connection") from closed
        except asyncio.LimitOverrunError as long:
            raise AgiError(f"a line from Asterisk is over {MAX_LINE} bytes") from long
        return raw.decode("utf-8", "replace").rstrip("\r\n")


Handler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer:
    """Listens for Asterisk's FastAGI connections and runs one handler for each.

    Each connection is a task of this server (registered while it runs, cancelled by
    ``close``), with ``request_timeout`` for the whole exchange: the dialplan waits for
    the answer, and a caller must not wait on a stalled database."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        request_timeout: float = 1.5,
    ) -> None:
        self._handlers = dict(handlers)
        self._host, self._port = host, port
        self._timeout = request_timeout
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.served = 0  # requests answered in full
        # (request, outcome) -> count; a request no handler has counts as UNKNOWN_REQUEST.
        self.outcomes: Counter[tuple[str, str]] = Counter()

    @property
    def requests(self) -> list[str]:
        """The requests this server answers, by name."""
        return sorted(self._handlers)

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    @property
    def port(self) -> int:
        if self._server is None:
            raise AgiError("the FastAGI server is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def connections(self) -> int:
        return len(self._connections)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connection, self._host, self._port, limit=MAX_LINE
        )
        log.info("FastAGI listening on %s:%d", self._host, self.port)

    async def close(self, grace: float = 2.0) -> None:
        """Stop listening, cancel every connection, and return within about ``grace``."""
        if self._server is None:
            return
        self._server.close()
        for task in self._connections:
            task.cancel()
        if self._connections:
            await asyncio.wait(set(self._connections), timeout=grace)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=grace)
        self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        session = AgiSession(reader, writer)
        outcome = ""
        try:
            async with asyncio.timeout(self._timeout):
                await session.read_environment()
                await self._serve(session)
            self.served += 1
            outcome = "answered"
        except TimeoutError:
            outcome = "timeout"
            log.warning("FastAGI %r: no answer within %.1f s", session.request, self._timeout)
        except AgiHangup:
            outcome = "hangup"
            log.info("FastAGI %r: the caller hung up", session.request)
        except (AgiError, OSError) as failed:
            outcome = "failed"
            log.warning("FastAGI %r failed: %s", session.request, failed)
        except Exception:  # a handler's bug must not end the server; the call goes on
            outcome = "failed"
            log.exception("FastAGI %r: the handler failed", session.request)
        finally:
            self._connections.discard(task)
            writer.close()
            if outcome:
                known = session.request in self._handlers
                self.outcomes[(session.request if known else UNKNOWN_REQUEST, outcome)] += 1

    async def _serve(self, session: AgiSession) -> None:
        handler = self._handlers.get(session.request)
        if handler is None:
            raise AgiError(f"no FastAGI request {session.request!r}")
        await handler(session)
