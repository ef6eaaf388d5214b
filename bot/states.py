"""Every status and kind the case store keeps, named once. Values are the strings stored in the
database (a `StrEnum` compares equal to its string), so changing a value here needs a migration."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    SCREENING = "screening"
    DEADLOCK = "deadlock"
    AWAITING_REFERRER = "awaiting_referrer"
    DECIDED = "decided"
    SUBMITTED = "submitted"  # the Rapid Review went to the National Panel


SCREENING_STATUSES = (CaseStatus.SCREENING, CaseStatus.DEADLOCK, CaseStatus.AWAITING_REFERRER)


class RoundState(StrEnum):
    OPEN = "open"
    DEADLOCK = "deadlock"
    DECIDED = "decided"
    CLOSED = "closed"


class ObligationState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class ReminderState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"


class OutboxState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class OutboxChannel(StrEnum):
    """Where an outbox row goes: a person's channel (`bot.config.Channel`) or the partnership's calendar."""

    SLACK = "slack"
    TEAMS = "teams"
    EMAIL = "email"
    CALENDAR = "calendar"


class VoteStatus(StrEnum):
    """What casting a vote did."""

    RECORDED = "recorded"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    AFTER_DECISION = "after_decision"
