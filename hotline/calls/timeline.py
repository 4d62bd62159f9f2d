"""The vocabulary of a call's timeline: every kind of ``call_events`` row.

Writers (``CallStore.log`` and the store's own writes) take a ``Kind``; readers (the KPIs,
the recordings' timeline and people, the scenario checks) compare against its members.
Being a ``StrEnum``, a member is stored as, and compares equal to, its plain string, so the
rows already in the database and those written now are the same text.

Each member's comment says what happened and the event's data keys.
"""

from __future__ import annotations

import enum


class Kind(enum.StrEnum):
    # --- the call (hotline.calls) ---
    STARTED = "started"  # the call came in: dialled, caller
    RESUMED = "resumed"  # a restarted controller took the call up again: state, node
    ENDED = "ended"  # the call is over: disposition
    # no controller answered for watchman.grace: the watchman (hotline.watchman) handed
    # the caller to the dialplan fallback: away (seconds the controller had been away)
    FALLBACK = "fallback"

    # --- the voice menu (ivr) ---
    BLACKLISTED = "blacklisted"  # a blacklisted caller refused: pattern, action
    NODE = "node"  # the menu moved: node, event ("enter", "no-input N", "invalid D", "pin ok"...)
    KEY = "key"  # the caller pressed keys: node, keys (CallStore.add_key: digit)
    PROMPT = "prompt"  # prompts played to the caller: ids, language
    TRANSFER = "transfer"  # a menu transfer rang: to, answered
    LINE = "line"  # R-3 line check/sequence: event (judged, step, resumed, hangup, handed-over)...
    MESSAGE = "message"  # a voice message was recorded (seconds 0: none kept): recording, seconds
    CALLBACK = "callback"  # a callback request was filed: number
    # PIN failures locked the account (event "locked"), or a locked account's PIN was
    # refused unchecked ("refused"): account, event, until, failures
    ACCOUNT_LOCKED = "account-locked"
    SURVEY = "survey"  # the satisfaction survey's answer: agent, queue, result, keys

    # --- the queue (acd) ---
    QUEUED = "queued"  # asked the ACD for a queue: queue, skills, priority, language
    QUEUE_EMPTY = "queue-empty"  # nobody logged in could take the call there: queue
    WAITING = "waiting"  # the wait in a queue began: queue, vip, region, preferred, position
    ANNOUNCEMENT = "announcement"  # a waiting announcement was played: prompts, position
    OVERFLOW = "overflow"  # moved to the overflow queue: queue (from), to
    MAX_WAIT = "max-wait"  # the longest wait allowed was reached: queue, wait
    QUEUE_CALLBACK = "queue-callback"  # the caller pressed the callback key: queue, wait
    ABANDONED = "abandoned"  # the caller hung up while waiting: queue, wait
    OFFER = "offer"  # an agent's phone rang with the call: agent, extension, queue
    OFFER_FAILED = "offer-failed"  # that agent did not answer: agent, outcome
    PICKED_UP = "picked-up"  # another agent picked the ringing call up: agent, from_agent
    ANSWERED = "answered"  # an agent answered: agent, queue, wait

    # --- the conversation (acd, ivr) ---
    ACTION = "action"  # an agent's or supervisor's action on the call: action, by
    AGENT_HUNG_UP = "agent-hung-up"  # the agent hung up: agent (a menu transfer's: leg)
    CALLER_HUNG_UP = "caller-hung-up"  # the caller hung up on the agent: agent
    WRAP_UP = "wrap-up"  # the agent's after-call work ended: agent, seconds
