"""Whole-menu checks beyond single fields: what `hotline menu check` reports.

Errors make a menu unusable (reload refuses it); warnings are worth a look.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from hotline.outbound import OutboundPolicy, Verdict
from ivr import model
from ivr.loader import build_menu
from ivr.source import KeyPath, MenuError, Source, parse_source, read_source


@dataclass(frozen=True)
class Finding:
    level: str  # "error" or "warning"
    message: str


def check_file(
    path: Path, prompt_ids: Iterable[str], outbound: OutboundPolicy | None = None
) -> tuple[model.Menu | None, list[Finding]]:
    """Load and check a menu file; the menu is None when it has errors. With
    ``outbound``, an ``outside:`` target the policy refuses is an error."""
    try:
        return check_source(read_source(path), prompt_ids, outbound)
    except MenuError as exc:
        return None, [Finding("error", exc.message)]


def check_text(
    path: Path, text: str, prompt_ids: Iterable[str], outbound: OutboundPolicy | None = None
) -> tuple[model.Menu | None, list[Finding]]:
    """Like ``check_file``, on text already read (what gets stored is what was checked)."""
    try:
        return check_source(parse_source(path, text), prompt_ids, outbound)
    except MenuError as exc:
        return None, [Finding("error", exc.message)]


def check_source(
    source: Source, prompt_ids: Iterable[str], outbound: OutboundPolicy | None = None
) -> tuple[model.Menu | None, list[Finding]]:
    try:
        menu = build_menu(source)
    except MenuError as exc:
        return None, [Finding("error", exc.message)]
    findings = check_menu(menu, source, set(prompt_ids), outbound)
    ok = not any(f.level == "error" for f in findings)
    return (menu if ok else None), findings


def check_menu(
    menu: model.Menu,
    source: Source,
    prompt_ids: set[str],
    outbound: OutboundPolicy | None = None,
) -> list[Finding]:
    def at(key: KeyPath, level: str, problem: str) -> Finding:
        return Finding(level, source.error(key, problem).message)

    findings: list[Finding] = []
    if outbound is not None:
        for node_id, verdict in _outside_targets(menu, outbound):
            if not verdict.allowed:
                findings.append(at(("nodes", node_id, "to"), "error", f"refused: {verdict.why}"))
    reachable = _reachable(menu)
    for node_id in menu.nodes:
        if node_id not in reachable:
            findings.append(
                at(
                    ("nodes", node_id),
                    "warning",
                    f"unreachable: no path from '{menu.start}' leads here",
                )
            )
    for cycle in _silent_loops(menu):
        path = " -> ".join([*cycle, cycle[0]])
        findings.append(
            at(("nodes", cycle[0]), "error", f"loop that never waits for the caller: {path}")
        )
    for key, prompt in _prompts(menu):
        if prompt not in prompt_ids:
            findings.append(at(key, "error", f"no prompt '{prompt}' in the catalogue"))
    return findings


def _outside_targets(menu: model.Menu, outbound: OutboundPolicy) -> list[tuple[str, Verdict]]:
    """What the outbound policy says of each transfer node's ``outside:`` number."""
    return [
        (node.id, outbound.verdict(node.to.partition(":")[2]))
        for node in menu.nodes.values()
        if isinstance(node, model.TransferNode) and node.to.startswith("outside:")
    ]


def _reachable(menu: model.Menu) -> set[str]:
    seen: set[str] = set()
    todo = [menu.start] + ([menu.defaults.agent] if menu.defaults.agent else [])
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in menu.nodes:
            continue
        seen.add(node_id)
        todo.extend(menu.nodes[node_id].targets().values())
    return seen


def _silent_loops(menu: model.Menu) -> list[list[str]]:
    """Cycles made only of nodes that never wait for a key (a caller would be stuck)."""
    silent = {i: n for i, n in menu.nodes.items() if not n.waits_for_input}
    loops: list[list[str]] = []
    reported: set[frozenset[str]] = set()

    def walk(node_id: str, path: list[str]) -> None:
        for target in silent[node_id].targets().values():
            if target in path:
                cycle = path[path.index(target) :]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    loops.append(cycle)
            elif target in silent:
                walk(target, [*path, target])

    for node_id in silent:
        walk(node_id, [node_id])
    return loops


def _prompts(menu: model.Menu) -> list[tuple[KeyPath, str]]:
    found: list[tuple[KeyPath, str]] = [
        (("defaults", "invalid_prompt"), menu.defaults.invalid_prompt),
        (("defaults", "timeout_prompt"), menu.defaults.timeout_prompt),
    ]
    for holiday in menu.hours.holidays.values():
        if holiday.prompt:
            found.append((("hotline", "hours", "holidays"), holiday.prompt))
    for node in menu.nodes.values():
        for name in (
            "prompt",
            "invalid_prompt",
            "timeout_prompt",
            "readback",
            "confirm",
            "wrong_prompt",
        ):
            value = getattr(node, name, "")
            if value:
                found.append((("nodes", node.id, name), value))
        prompts = getattr(node, "prompts", ())
        for i, prompt in enumerate(prompts):
            index = (str(i),) if len(prompts) > 1 else ()
            found.append((("nodes", node.id, "prompt", *index), prompt))
    if menu.line_check.enabled:
        for kind, steps in menu.line_check.sequences.items():
            for i, step in enumerate(steps):
                key = ("line_check", "sequences", kind.value, str(i), "prompt")
                found.append((key, step.prompt))
    return found
