"""The ACD file: the default one loads; broken ones name file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.loader import AcdError, load_acd, parse_acd
from hotline.config import DEFAULT_ACD
from tests.unit.acd_fixtures import CENTRE


def test_the_default_file_loads_with_its_queues_agents_and_regions() -> None:
    setup = load_acd(DEFAULT_ACD)
    assert set(setup.queues) == {"install", "repair", "account", "complaints", "general"}
    assert setup.queues["complaints"].overflow == "general"
    assert setup.queues["install"].ring_seconds == 16  # about four rings
    assert setup.queues["install"].wrapup_seconds == 30
    assert setup.queues["install"].max_wait == 300
    assert setup.agents["9001"].role.value == "supervisor"
    assert setup.regions.of("075512345678") == "guangdong"


BROKEN = [
    ("queues:\n  a: {skills: [x], ring_seconds: 1}\n", 2, "queues.a.ring_seconds", "between 3"),
    ("queues:\n  a: {skills: [x], overflow: b}\n", 2, "queues.a.overflow", "no queue named 'b'"),
    ("queues:\n  a: {skils: [x]}\n", 2, "queues.a.skils", "did you mean 'skills'"),
    ("queues:\n  A: {}\n", 2, "queues.A", "lower-case"),
    (
        "queues:\n  b: {}\n  a: {overflow: b, overflow_after: 400}\n",
        3,
        "queues.a.overflow_after",
        "shorter than max_wait",
    ),
    (
        "queues:\n  a:\n    steps:\n      - {after: 5}\n",
        4,
        "queues.a.steps.0.after",
        "from 0 seconds",
    ),
    (
        "queues:\n  a:\n    steps:\n      - {after: 0}\n      - {after: 0, scope: region}\n",
        5,
        "queues.a.steps.1.after",
        "later than",
    ),
    (
        "queues:\n  a:\n    steps:\n      - {after: 0, scope: friends}\n",
        4,
        "queues.a.steps.0.scope",
        "must be one of",
    ),
    ('queues: {a: {}}\nagents:\n  "1": {name: X, skills: {a: 6}}\n', 3, "agents.1.skills.a", "1-5"),
    ('queues: {a: {}}\nagents:\n  "1": {skills: {}}\n', 3, "agents.1", "'name'"),
    ('queues: {a: {}}\nagents:\n  "1": {name: X, region: mars}\n', 3, "agents.1.region", "mars"),
    ('queues: {a: {}}\nagents:\n  "1": {name: X, role: boss}\n', 3, "agents.1.role", "boss"),
    ('queues: {a: {}}\nowners:\n  "138": "7"\n', 3, "owners.138", "no agent numbered '7'"),
    ("queues: {a: {}}\nvip: [abc]\n", 2, "vip.0", "phone number"),
    ("queues: {a: {}}\nregions:\n  x: {prefixes: [21]}\n", 3, "regions.x.prefixes.0", "quoted"),
    ("queues: {a: {}}\nqueues: {b: {}}\n", 2, "queues", "duplicate key"),
    (
        'queues: {a: {}}\nagents:\n  "1": {name: X, extension: "81٠1"}\n',
        3,
        "agents.1.extension",
        "digits",
    ),
    (
        'queues: {a: {}}\nagents:\n  "1": {name: X, desks: [8101]}\n',
        3,
        "agents.1.desks.0",
        "quoted",
    ),
    (
        'queues: {a: {}}\nagents:\n  "1": {name: X, desks: ["８１０１"]}\n',
        3,
        "agents.1.desks.0",
        "quoted",
    ),
    ('queues: {a: {}}\nagents:\n  "1": {name: X, desks: "8101"}\n', 3, "agents.1.desks", "list"),
    (
        'queues: {a: {}}\nagents:\n  "1": {name: X, extension: "8101", desks: ["8101"]}\n',
        3,
        "agents.1.desks.0",
        "listed already",
    ),
    (
        'queues: {a: {}}\nagents:\n  "1": {name: X, extension: "8101"}\n'
        '  "2": {name: Y, extension: "8101"}\n',
        4,
        "agents.2.extension",
        "agent 1's own desk",
    ),
]


@pytest.mark.parametrize(("text", "line", "key", "problem"), BROKEN)
def test_a_broken_file_names_line_and_key(text: str, line: int, key: str, problem: str) -> None:
    with pytest.raises(AcdError) as caught:
        parse_acd(Path("acd.yaml"), text)
    message = caught.value.message
    assert message.startswith(f"acd.yaml:{line}: {key}: "), message
    assert problem in message


def test_desks_are_the_own_extension_then_the_listed_ones() -> None:
    text = (
        "queues: {a: {}}\nagents:\n"
        '  "1": {name: X, extension: "8101", desks: ["8201", "8202"]}\n'
        '  "2": {name: Y, desks: ["8201"]}\n'  # a hot desk for both; 2's own is "2"
    )
    setup = parse_acd(Path("acd.yaml"), text)
    assert setup.desks() == {"1": ("8101", "8201", "8202"), "2": ("2", "8201")}


def test_the_test_centre_parses() -> None:
    setup = parse_acd(Path("c.yaml"), CENTRE)
    assert setup.preferred_agent("+86 138 0000 0001") == "1"
    assert setup.is_vip("13900000001")
