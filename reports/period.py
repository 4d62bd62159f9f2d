"""The period a report covers: a default when none is asked for, and a longest one.

A report reads every call and event of its period, so the period is what it costs: left
open it would read the whole history. Without ``since`` a report covers the DEFAULT_DAYS
before ``until``; without ``until`` it ends now. A period longer than MAX_DAYS (a quarter)
is refused with the reason: ask for several.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hotline.api import BadRequest

DEFAULT_DAYS = 7
MAX_DAYS = 92


def report_period(
    since: datetime | None, until: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """[since, until) as asked, with the defaults filled in; BadRequest when the period
    is empty or longer than MAX_DAYS."""
    until = until if until is not None else now
    since = since if since is not None else until - timedelta(days=DEFAULT_DAYS)
    if since >= until:
        raise BadRequest("since: must be before until", field="since")
    if until - since > timedelta(days=MAX_DAYS):
        raise BadRequest(
            f"the period is {(until - since) / timedelta(days=1):.1f} days; a report covers "
            f"at most {MAX_DAYS} days: ask for several shorter periods",
            field="since",
            max_days=MAX_DAYS,
        )
    return since, until
