"""What one routing decision costs as the contact centre grows (issue 5, item 7).

A synthetic centre: 100 skills; each agent holds 3-8 of them at levels 1-5, belongs to one
of 10 regions and speaks zh (and en for a quarter); a third of the agents are free. Each
queue asks for one or two skills, and 50 calls wait, spread over the queues, some owned,
some VIP. One decision is ``acd.routing.assign`` over every waiting call and every logged-in
agent, exactly as the dispatcher runs it on each change and every second.

    python -m bench.routing            # 100, 1 000 and 10 000 agents

Reported: the median of repeated decisions, and the ratio of each size's cost to the
100-agent cost, against the ratio of the sizes (100x more agents).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Sequence

from acd import routing
from acd.model import DEFAULT_STEPS, AcdSetup, Announcements, Queue, Regions

SKILLS = [f"s{i:02d}" for i in range(100)]
REGIONS = [f"r{i}" for i in range(10)]


def centre(agents: int, rng: random.Random) -> tuple[AcdSetup, list[routing.AgentView]]:
    queues = {}
    for index in range(50):
        asked = frozenset(rng.sample(SKILLS, rng.choice((1, 1, 2))))
        queues[f"q{index}"] = Queue(
            name=f"q{index}",
            skills=asked,
            priority=0,
            ring_seconds=16,
            wrapup_seconds=30,
            max_wait=300,
            overflow="",
            overflow_after=120,
            steps=DEFAULT_STEPS,
            announce=Announcements(),
            music="default",
        )
    setup = AcdSetup(
        path="bench",
        version="bench",
        agents={},
        queues=queues,
        vip=frozenset(),
        owners={},
        pinned={},
        regions=Regions({}, {r: r for r in REGIONS}),
    )
    views = []
    for number in range(agents):
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, rng.randint(3, 8))}
        serves = frozenset(name for name, q in queues.items() if all(s in skills for s in q.skills))
        views.append(
            routing.AgentView(
                number=str(number),
                skills=skills,
                region=rng.choice(REGIONS),
                languages=frozenset({"zh", "en"} if rng.random() < 0.25 else {"zh"}),
                queues=serves,
                free=rng.random() < 1 / 3,
                idle_since=rng.uniform(0, 1000),
            )
        )
    return setup, views


def waiting(
    setup: AcdSetup, agents: int, count: int, rng: random.Random
) -> list[routing.WaitingCall]:
    calls = []
    for index in range(count):
        name = rng.choice(list(setup.queues))
        calls.append(
            routing.WaitingCall(
                call_id=f"c{index}",
                queue=name,
                skills=setup.queues[name].skills,
                priority=rng.randint(1, 9),
                vip=rng.random() < 0.05,
                joined_at=rng.uniform(900, 1000),
                region=rng.choice(REGIONS),
                preferred=str(rng.randrange(agents)) if rng.random() < 0.2 else "",
                language="en" if rng.random() < 0.1 else "zh",
            )
        )
    return calls


def decision_seconds(agents: int, calls: int, repeats: int, seed: int = 5) -> tuple[float, int]:
    rng = random.Random(seed)
    setup, views = centre(agents, rng)
    queue = waiting(setup, agents, calls, rng)
    times = []
    offers = 0
    for _ in range(repeats):
        began = time.perf_counter()
        offers = len(routing.assign(queue, views, setup, 1000.0))
        times.append(time.perf_counter() - began)
    return statistics.median(times), offers


def report(sizes: Sequence[int], calls: int, repeats: int) -> str:
    rows = []
    base = 0.0
    for size in sizes:
        seconds, offers = decision_seconds(size, calls, repeats)
        base = base or seconds
        rows.append(
            f"| {size:>6} | {calls} | {offers:>3} | {seconds * 1000:8.2f} ms "
            f"| {seconds / base:6.1f}x | {size / sizes[0]:6.0f}x |"
        )
    head = (
        "| agents | waiting | offers | one decision (median) | cost vs 100 | size vs 100 |\n"
        "|---:|---:|---:|---:|---:|---:|"
    )
    return "\n".join([head, *rows])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    print(report(args.sizes, args.calls, args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
