"""The post-call satisfaction survey (满意度调查, R-6).

When the agent hangs up, the caller stays on the line and hears 「感谢您的来电,请对本次服务
进行评价:满意请按1,一般请按2,不满意请按3」. A key during the prompt counts. One invalid key
is met with "not a valid choice" and the question once more; a second one is stored as
``invalid``. No key within the timeout is stored as ``no-key``, a caller who hangs up as
``hung-up``, and a survey the agent switched off for the call as ``off``. Each answer is
stored with the call, the agent and the queue (and on the call's timeline, where the
KPIs read it), then the caller hears thanks and goodbye.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from hotline.calls.session import CallChannel, CallerHungUp
from hotline.db import Base, session_factory
from hotline.writes import DirectWrites, Writes, add_row

KEYS = {"1": "satisfied", "2": "neutral", "3": "dissatisfied"}


class SurveyResult(enum.StrEnum):
    SATISFIED = "1"
    NEUTRAL = "2"
    DISSATISFIED = "3"
    INVALID = "invalid"
    NO_KEY = "no-key"
    HUNG_UP = "hung-up"
    OFF = "off"


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    agent: Mapped[str] = mapped_column(String(16), index=True)
    queue: Mapped[str] = mapped_column(String(64), index=True)
    caller_number: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(16))
    keys: Mapped[str] = mapped_column(String(8), default="")  # every key pressed, in order
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class Surveys:
    def __init__(self, engine: AsyncEngine, writes: Writes | None = None) -> None:
        self._sessions = session_factory(engine)
        # Queued in the controller (hotline.writes): a busy database delays no call.
        self._writes = writes if writes is not None else DirectWrites(engine)

    async def add(
        self, call_id: str, agent: str, queue: str, caller: str, result: SurveyResult, keys: str
    ) -> None:
        await add_row(
            self._writes,
            SurveyAnswer,
            f"survey answer of {call_id}",
            call_id=call_id,
            agent=agent,
            queue=queue,
            caller_number=caller,
            result=result.value,
            keys=keys[:8],
            at=datetime.now(UTC),
        )

    async def of_call(self, call_id: str) -> Sequence[SurveyAnswer]:
        async with self._sessions() as db:
            rows = await db.scalars(select(SurveyAnswer).where(SurveyAnswer.call_id == call_id))
            return rows.all()


@dataclass(frozen=True)
class Asked:
    result: SurveyResult
    keys: str


async def ask(channel: CallChannel, media: Callable[[str], str], timeout: float) -> Asked:
    """Ask the question (twice at most), then thank the caller and hang up. A caller who
    hangs up is an answer too, not an error."""
    channel.typeahead.clear()  # keys pressed while talking to the agent are not answers
    try:
        asked = await _question(channel, media, timeout)
    except CallerHungUp:
        return Asked(SurveyResult.HUNG_UP, "")
    farewell = "survey-thanks" if asked.result.value in KEYS else "goodbye"
    with contextlib.suppress(CallerHungUp):  # the answer is in: hanging up now is fine
        await channel.play([media(farewell)], barge_in=False)
        await channel.hangup()
    return asked


async def _question(channel: CallChannel, media: Callable[[str], str], timeout: float) -> Asked:
    pressed = ""
    for attempt in range(2):
        prompts = ["survey"] if attempt == 0 else ["invalid-key", "survey"]
        key = await channel.play([media(p) for p in prompts], barge_in=True)
        if key is None:
            key = await channel.wait_digit(timeout)
        if key is None:
            return Asked(SurveyResult.NO_KEY, pressed)
        pressed += key
        if key in KEYS:
            return Asked(SurveyResult(key), pressed)
    return Asked(SurveyResult.INVALID, pressed)
