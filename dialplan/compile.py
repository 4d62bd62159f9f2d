"""The menu as Asterisk dialplan: the degraded menu the PBX plays when the controller is away.

``compile_fallback(menu)`` is pure: a loaded ``Menu`` in, ``extensions.conf`` text out, the
same text for the same menu (contexts in a fixed order, keys sorted). ``[fallback]`` (in
``asterisk-conf/extensions.conf``) sends callers here once the FastAGI fallback
(``dialplan.requests``) has screened them and opened their record.

What the fallback keeps of the menu, and why:

- ``hours`` nodes: holidays marked closed by date (``STRFTIME`` of the menu's time zone,
  compared as ``YYYY-MM-DD``, because ``GotoIfTime`` knows no year and a holiday such as
  the Spring Festival moves), then the weekly spans with ``GotoIfTime`` in the menu's time
  zone. ``GotoIfTime`` ranges include their end minute, so a span ending 21:00 is written
  ``-20:59``: the controller's ``start <= now < end``.
- ``menu`` nodes: one context each; the prompt with barge-in (``Background`` then
  ``WaitExten`` for the node's timeout); ``i``/``t`` say the invalid/no-input prompt and
  repeat until the node's tries are used, then go where ``on_fail`` leads; ``0`` reaches
  the person of ``defaults.agent`` unless the node uses ``0`` itself; ``*`` repeats (the
  dialplan keeps no history to go back through).
- ``play`` nodes: their prompts (with today's holiday prompt for ``holiday_greeting``);
  when the next node is a menu, the play context includes the menu's, so a key pressed
  during the greeting is the menu's key (barge-in across the two).
- ``language`` nodes set ``HOTLINE_LANG``; ``hangup`` says its prompt and hangs up.
- ``queue`` nodes go to ``[fallback-queue-<queue>]``: the FastAGI fallback names the
  phones of the agents who were ready (the controller's snapshot), which ring together in
  rounds with music on hold until the queue's longest wait; then a voice message.
- what needs the controller is passed over along the path a caller without it should
  take: ``input`` goes on to its ``next`` (the agent asks for the number), ``verify`` to
  the person of ``defaults.agent`` (no PIN can be checked, so nothing verified is
  reached; ``fail`` would say "locked" to a caller who typed nothing), else its ``fail``;
  ``transfer`` to its
  ``on_fail`` (no outside leg without the controller's outbound policy: no toll fraud
  through the fallback), ``leave-message`` and ``callback-request`` to
  ``[fallback-message]``: ``Record`` after the beep, up to ``#``, silence or the
  menu's longest message; the FastAGI fallback indexes it and files a callback.

Prompts are played in the caller's language: ``HOTLINE_LANG`` when it is set (by a
``language`` node), otherwise both, the menu's language first (Mandarin, then English
for the default menu), from ``${HOTLINE_PROMPTS}/<lang>/<id>`` like ``[fallback]``.

Every name that reaches the text (node ids, queue names, prompt ids, the time zone) is
checked against a safe character set first: a comma, parenthesis, ``$`` or newline in a
name could otherwise rewrite the dialplan; such a menu is refused with ``DialplanError``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from hotline.errors import HotlineError
from ivr import model

ENTRY = "fallback-menu"
MESSAGE = "fallback-message"
LANGUAGES = ("zh", "en")
SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SAFE_TIMEZONE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$")
WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Nodes that need the controller, and the field whose node the fallback goes on to.
PASSED_OVER = {
    model.InputNode: "next",
    model.VerifyNode: "fail",
    model.TransferNode: "on_fail",
}


class DialplanError(HotlineError):
    error_id = "unsafe-dialplan-name"
    http_status = 400


def menu_context(node_id: str) -> str:
    return f"{ENTRY}-{_safe('node', node_id)}"


def queue_context(queue: str) -> str:
    return f"fallback-queue-{_safe('queue', queue)}"


def compile_fallback(menu: model.Menu, message_silence: int = 5) -> str:
    """The fallback menu's dialplan for ``menu``; raises ``DialplanError`` on an unsafe name.
    ``message_silence``: seconds of silence that end a voice message (menu.message_silence)."""
    return _Compiler(menu, message_silence).text()


def _safe(what: str, name: str) -> str:
    if not SAFE_NAME.match(name):
        raise DialplanError(
            f"{what} {name!r} cannot go into the dialplan: use lower-case letters, digits,"
            " '-' and '_' (at most 64)",
            kind=what,
            name=name,
        )
    return name


class _Compiler:
    def __init__(self, menu: model.Menu, message_silence: int) -> None:
        self.menu = menu
        self.message_silence = max(0, int(message_silence))
        self.languages = (menu.language, *(lang for lang in LANGUAGES if lang != menu.language))
        if not SAFE_TIMEZONE.match(menu.hours.timezone):
            raise DialplanError(
                f"time zone {menu.hours.timezone!r} cannot go into the dialplan",
                kind="timezone",
                name=menu.hours.timezone,
            )
        self.contexts: dict[str, list[str]] = {}
        self.queues: set[str] = set()

    def text(self) -> str:
        start = self.destination(self.menu.start)
        today = f"${{STRFTIME(${{EPOCH}},{self.menu.hours.timezone},%Y-%m-%d)}}"
        entry = [
            "exten => s,1,Answer()",
            f" same => n,Set(FB_TODAY={today})",
            f" same => n,{start}",
        ]
        header = [
            f"; The fallback menu, generated from {self.menu.path.rsplit('/', 1)[-1]}"
            f" (version {_safe('version', self.menu.version)}) by dialplan/compile.py.",
            "; Do not edit: it is written again on every menu reload.",
        ]
        blocks = ["\n".join(header), _block(ENTRY, entry)]
        blocks += [_block(name, self.contexts[name]) for name in sorted(self.contexts)]
        for queue in sorted(self.queues):
            blocks.append(_block(queue_context(queue), self._queue(queue)))
        blocks.append(_block(MESSAGE, self._message()))
        return "\n\n".join(blocks) + "\n"

    # --- where a node leads -----------------------------------------------------------------
    def destination(self, node_id: str) -> str:
        """The ``Goto`` that takes a caller to ``node_id`` in the fallback, compiling the
        node (and what it leads to) on the first visit."""
        node = self._resolve(node_id)
        if isinstance(node, model.QueueNode):
            self.queues.add(node.queue)
            return f"Goto({queue_context(node.queue)},s,1)"
        if isinstance(node, model.MessageNode | model.CallbackNode):
            return f"Goto({MESSAGE},s,1)"
        context = menu_context(node.id)
        if context not in self.contexts:
            self.contexts[context] = []  # placed first: a loop back here finds it
            self.contexts[context] = self._compile(node)
        return f"Goto({context},s,1)"

    def _resolve(self, node_id: str) -> model.Node:
        seen = []
        node = self.menu.node(_safe("node", node_id))
        while type(node) in PASSED_OVER:
            seen.append(node.id)
            onward = getattr(node, PASSED_OVER[type(node)])
            if isinstance(node, model.VerifyNode) and self.menu.defaults.agent:
                onward = self.menu.defaults.agent
            if onward in seen:
                raise DialplanError(
                    f"nodes {' -> '.join(seen)} loop without a node the fallback can play",
                    kind="node",
                    name=node_id,
                )
            node = self.menu.node(_safe("node", onward))
        return node

    def _compile(self, node: model.Node) -> list[str]:
        if isinstance(node, model.HoursNode):
            return self._hours(node)
        if isinstance(node, model.MenuNode):
            return self._menu(node)
        if isinstance(node, model.PlayNode):
            return self._play(node)
        if isinstance(node, model.LanguageNode):
            language = node.language if node.language in LANGUAGES else self.menu.language
            return [
                f"exten => s,1,Set(HOTLINE_LANG={language})",
                f" same => n,{self.destination(node.next)}",
            ]
        if isinstance(node, model.HangupNode):
            return [f"exten => s,1,Playback({self.say([node.prompt])})", " same => n,Hangup()"]
        raise DialplanError(
            f"node {node.id!r} ({type(node).__name__}) has no fallback form",
            kind="node",
            name=node.id,
        )

    # --- nodes ----------------------------------------------------------------------------
    def _hours(self, node: model.HoursNode) -> list[str]:
        hours = self.menu.hours
        lines = ["exten => s,1,NoOp(business hours, holidays of the menu)"]
        for day in sorted(d for d, h in hours.holidays.items() if h.closed):
            lines.append(f' same => n,GotoIf($["${{FB_TODAY}}" = "{day.isoformat()}"]?closed)')
        for weekday in sorted(hours.weekly):
            for start, end in hours.weekly[weekday]:
                span = f"{start:%H:%M}-{_last_minute(end)}"
                lines.append(
                    f" same => n,GotoIfTime({span},{WEEKDAY_NAMES[weekday]},*,*,"
                    f"{hours.timezone}?open)"
                )
        lines.append(f" same => n(closed),{self.destination(node.closed)}")
        lines.append(f" same => n(open),{self.destination(node.open)}")
        return lines

    def _play(self, node: model.PlayNode) -> list[str]:
        follows_menu = isinstance(self.menu.node(node.next), model.MenuNode) and node.barge_in
        app = "Background" if follows_menu else "Playback"
        onward = self.destination(node.next)
        # A wrong key during the greeting is the menu's first try (its i and t count it).
        first = "Set(FB_TRIES=1)" if follows_menu else "NoOp()"
        lines = [f"exten => s,1,{first}", f" same => n,{app}({self.say(node.prompts)})"]
        holidays = sorted((d, h.prompt) for d, h in self.menu.hours.holidays.items() if h.prompt)
        if node.holiday_greeting and holidays:
            lines.append(" same => n,Set(FB_HOLIDAY=)")
            for day, prompt in holidays:
                lines.append(
                    f' same => n,ExecIf($["${{FB_TODAY}}" = "{day.isoformat()}"]'
                    f"?Set(FB_HOLIDAY={_safe('prompt', prompt)}))"
                )
            lines.append(' same => n,GotoIf($["${FB_HOLIDAY}" = ""]?onward)')
            lines.append(f" same => n,{app}({self.say(['${FB_HOLIDAY}'])})")
        lines.append(f" same => n(onward),{onward}")
        if follows_menu:
            lines.append(f"include => {menu_context(node.next)}")
        return lines

    def _menu(self, node: model.MenuNode) -> list[str]:
        context = menu_context(node.id)
        lines = [
            "exten => s,1,Set(FB_TRIES=0)",
            " same => n(prompt),Set(FB_TRIES=$[${FB_TRIES} + 1])",
            f" same => n,Background({self.say([node.prompt])})",
            f" same => n,WaitExten({node.timeout:g})",
        ]
        keys = dict(node.keys)
        zero = node.zero or self.menu.defaults.agent
        if zero and "0" not in keys:
            keys["0"] = zero
        for key in sorted(keys):
            lines.append(f"exten => {_key(key)},1,{self.destination(keys[key])}")
        if "*" not in keys:
            lines.append(f"exten => *,1,Goto({context},s,prompt)")
        on_fail = self.destination(node.on_fail)
        for exten, prompt in (("i", node.invalid_prompt), ("t", node.timeout_prompt)):
            lines += [
                f"exten => {exten},1,Playback({self.say([prompt])})",
                f" same => n,GotoIf($[${{FB_TRIES}} < {node.tries}]?{context},s,prompt)",
                f" same => n,{on_fail}",
            ]
        return lines

    def _queue(self, queue: str) -> list[str]:
        """Ring the phones the FastAGI fallback names (who was ready) in rounds, with
        music on hold, until the longest wait; then a voice message. No answer from the
        fallback: the static layer rings every phone."""
        agi = f"AGI(${{HOTLINE_FALLBACK_AGI}}/queue,{queue},${{HOTLINE_CALL}})"
        return [
            f"exten => s,1,Set(FB_QUEUE={queue})",
            " same => n,Set(FB_QUEUED_AT=)",
            f" same => n,{agi}",
            ' same => n,GotoIf($["${FB_QUEUED_AT}" = ""]?fallback-static,s,ring)',
            ' same => n,GotoIf($["${FB_DIAL}" = ""]?busy)',
            f" same => n,Playback({self.say(['transferring'])})",
            " same => n(ring),Dial(${FB_DIAL},${FB_RING},m(${FB_MUSIC}))",
            ' same => n,GotoIf($["${DIALSTATUS}" = "ANSWER"]?talked)',
            # Phones that cannot ring at all: hold a little rather than dial in a loop.
            ' same => n,ExecIf($["${DIALSTATUS}" != "NOANSWER"]?MusicOnHold(${FB_MUSIC},3))',
            " same => n,GotoIf($[${EPOCH} < ${FB_WAIT_UNTIL}]?ring)",
            " same => n(busy),Set(FB_MAX_WAIT_AT=${EPOCH})",
            f" same => n,Playback({self.say(['agents-busy'])})",
            f" same => n,Goto({MESSAGE},s,1)",
            " same => n(talked),Set(FB_AGENT_HUNG_UP=yes)",
            " same => n,Hangup()",
        ]

    def _message(self) -> list[str]:
        """A voice message (the beep, up to # or silence); the FastAGI fallback indexes it
        and files a callback when the call ends (``call-end``)."""
        nodes = [n for n in self.menu.nodes.values() if isinstance(n, model.MessageNode)]
        longest = nodes[0].max_seconds if nodes else 120
        prompt = nodes[0].prompt if nodes else "leave-message"
        return [
            'exten => s,1,GotoIf($["${HOTLINE_CALL}" = ""]?none)',
            " same => n,Set(FB_MESSAGE=messages/${HOTLINE_CALL})",
            f" same => n,Playback({self.say([prompt])})",
            " same => n,Set(FB_MESSAGE_AT=${EPOCH})",
            " same => n,Record(${HOTLINE_RECORDINGS}/${FB_MESSAGE}.wav,"
            f"{self.message_silence},{longest},k)",
            f" same => n,Playback({self.say(['message-saved'])})",
            " same => n,Hangup()",
            f" same => n(none),Playback({self.say(['service-unavailable'], both=True)})",
            " same => n,Hangup()",
        ]

    # --- prompts --------------------------------------------------------------------------
    def say(self, prompts: Iterable[str], both: bool = False) -> str:
        """The ``&``-joined prompt files: the caller's language, or all languages."""
        ids = [p if p == "${FB_HOLIDAY}" else _safe("prompt", p) for p in prompts]
        every = "&".join(_path(lang, p) for lang in self.languages for p in ids)
        if both:
            return every
        chosen = "&".join(_path("${HOTLINE_LANG}", p) for p in ids)
        return f'${{IF($["${{HOTLINE_LANG}}" = ""]?{every}:{chosen})}}'


def _path(language: str, prompt: str) -> str:
    return f"${{HOTLINE_PROMPTS}}/{language}/{prompt}"


def _key(key: str) -> str:
    if key not in model.DTMF_KEYS:
        raise DialplanError(f"menu key {key!r} is not a DTMF key", kind="key", name=key)
    return key


def _last_minute(end: dt.time) -> str:
    """The last minute inside a span that ends at ``end`` (exclusive)."""
    minutes = (end.hour * 60 + end.minute - 1) % (24 * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _block(context: str, lines: list[str]) -> str:
    return "\n".join([f"[{context}]", *lines])
