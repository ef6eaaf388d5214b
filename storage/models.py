"""The case store's tables, as SQLAlchemy 2 typed ORM models.

All timestamps are timezone-aware UTC (`UTCDateTime`), whatever the database. The child's personal
details live in `children`, apart from the case row, so nothing that renders a case for a panel can
reach them by accident.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out; SQLite keeps them naive, so we re-attach UTC on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the case store; use an aware UTC time")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class RefCounter(Base):
    """Last case number used per prefix and year; locked while a reference is issued."""

    __tablename__ = "ref_counters"
    prefix: Mapped[str] = mapped_column(String(12), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Case(Base):
    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(24), index=True)
    received_at: Mapped[dt.datetime]
    aware_at: Mapped[dt.datetime | None]  # when the partnership became aware (the notification clock's anchor)
    incident_date: Mapped[dt.date | None] = mapped_column(Date)
    referrer_name: Mapped[str] = mapped_column(String(200))
    referrer_role: Mapped[str | None] = mapped_column(String(200))
    referrer_agency: Mapped[str | None] = mapped_column(String(200))
    referrer_phone: Mapped[str | None] = mapped_column(String(64))
    referrer_email: Mapped[str | None] = mapped_column(String(320))
    # Part A free text: confidential, never rendered into chat.
    event_description: Mapped[str | None] = mapped_column(Text)
    abuse_detail: Mapped[str | None] = mapped_column(Text)
    agency_work: Mapped[str | None] = mapped_column(Text)
    review_reason: Mapped[str | None] = mapped_column(Text)
    additional_info: Mapped[str | None] = mapped_column(Text)
    # What the Business Manager wrote for sharing with the panel: no names, no addresses.
    panel_summary: Mapped[str] = mapped_column(Text)
    screening_due: Mapped[dt.datetime]
    notification_due: Mapped[dt.datetime]
    notified_at: Mapped[dt.datetime | None]
    rapid_review_due: Mapped[dt.datetime | None]
    rr_day1: Mapped[dt.date | None] = mapped_column(Date)  # the Rapid Review plan's Day 1
    submitted_at: Mapped[dt.datetime | None]  # the Rapid Review report went to the National Panel
    submitted_by: Mapped[str | None] = mapped_column(String(64))
    # The latest Rapid Review delay recorded (history in the audit log), and the local CSPR's dates.
    delay_reason: Mapped[str | None] = mapped_column(Text)
    delay_expected_on: Mapped[dt.date | None] = mapped_column(Date)
    delay_recorded_at: Mapped[dt.datetime | None]
    cspr_decided_on: Mapped[dt.date | None] = mapped_column(Date)
    cspr_publication_on: Mapped[dt.date | None] = mapped_column(Date)
    cspr_reviewer: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    # The referrer's phone and e-mail, encrypted (bot/sealing.py) when a data key is configured.
    referrer_sealed: Mapped[str | None] = mapped_column(Text)
    # When retention erased Part A and the contact details (the rest of the record stays).
    personal_erased_at: Mapped[dt.datetime | None]

    child: Mapped[Child | None] = relationship(back_populates="case", uselist=False, lazy="raise")
    rounds: Mapped[list[ScreeningRound]] = relationship(
        back_populates="case", order_by="ScreeningRound.number", lazy="raise"
    )


class Child(Base):
    """Part A section 4: the child's personal details. Kept in the store only."""

    __tablename__ = "children"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    last_name: Mapped[str | None] = mapped_column(String(200))
    forenames: Mapped[str | None] = mapped_column(String(200))
    other_names: Mapped[str | None] = mapped_column(String(200))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    age: Mapped[str | None] = mapped_column(String(32))
    gender: Mapped[str | None] = mapped_column(String(64))
    ethnicity: Mapped[str | None] = mapped_column(String(128))
    disability: Mapped[str | None] = mapped_column(Text)
    home_address: Mapped[str | None] = mapped_column(Text)
    carers: Mapped[str | None] = mapped_column(Text)
    # All of the above, encrypted (bot/sealing.py), when a data key is configured; the columns are then empty.
    sealed: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="child", lazy="raise")


class ScreeningRound(Base):
    __tablename__ = "screening_rounds"
    __table_args__ = (UniqueConstraint("case_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    state: Mapped[str] = mapped_column(String(16))  # open | deadlock | decided
    opened_at: Mapped[dt.datetime]
    deadlocked_at: Mapped[dt.datetime | None]
    reason: Mapped[str | None] = mapped_column(Text)  # why a reconsideration reopened screening

    case: Mapped[Case] = relationship(back_populates="rounds", lazy="raise")


class Vote(Base):
    """The standing vote of one agency in one round; earlier versions live in the audit log."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("round_id", "agency"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("screening_rounds.id", ondelete="CASCADE"))
    agency: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str] = mapped_column(String(64))
    pathway: Mapped[str] = mapped_column(String(32))
    notifiable: Mapped[bool] = mapped_column(Boolean)
    rationale: Mapped[str] = mapped_column(Text)
    abuse_nature: Mapped[str | None] = mapped_column(Text)
    harm_basis: Mapped[str | None] = mapped_column(Text)
    cast_at: Mapped[dt.datetime]
    after_decision: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Given by phone, e-mail or in a meeting and recorded by the Business Manager: who recorded it, and how.
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    record_method: Mapped[str | None] = mapped_column(String(16))


class Decision(Base):
    __tablename__ = "decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("screening_rounds.id", ondelete="CASCADE"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    pathway: Mapped[str] = mapped_column(String(32))
    notifiable: Mapped[bool] = mapped_column(Boolean)
    method: Mapped[str] = mapped_column(String(16))  # majority | unanimous | la_final_say | consultation
    decided_at: Mapped[dt.datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))  # the chair, for a consultation
    deciding_votes: Mapped[list[Any]] = mapped_column(JSON)
    rationale: Mapped[str | None] = mapped_column(Text)


class Scrutiny(Base):
    __tablename__ = "scrutiny"
    __table_args__ = (UniqueConstraint("decision_id", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # concur | disagree
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime]
    # Given by phone, e-mail or in a meeting and recorded by the Business Manager: who recorded it, and how.
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    record_method: Mapped[str | None] = mapped_column(String(16))


class RapidReviewOutcome(Base):
    """What the Rapid Review found, recorded by its chair (or the Business Manager) after the Day 13
    meeting; re-recorded while the partners ask for amendments (`version`), history in the audit log."""

    __tablename__ = "rr_outcomes"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    immediate_actions: Mapped[str] = mapped_column(Text)
    single_agency_learning: Mapped[str] = mapped_column(Text)
    multi_agency_learning: Mapped[str] = mapped_column(Text)
    cspr_criteria_met: Mapped[bool] = mapped_column(Boolean)
    recommendation: Mapped[str] = mapped_column(String(24))  # local_cspr | national_review | no_review
    no_review_reason: Mapped[str | None] = mapped_column(Text)
    wider_system_issues: Mapped[bool] = mapped_column(Boolean)
    summary: Mapped[str] = mapped_column(Text)  # the decision summary the DSPs and the scrutineer are told
    version: Mapped[int] = mapped_column(Integer, default=1)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[dt.datetime]
    agreed_at: Mapped[dt.datetime | None]  # all three partners agreed: sign-off closed


class SignOff(Base):
    """One agency's standing answer on the Rapid Review report: agree, or amend with a comment."""

    __tablename__ = "signoffs"
    __table_args__ = (UniqueConstraint("outcome_id", "agency"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    outcome_id: Mapped[int] = mapped_column(ForeignKey("rr_outcomes.id", ondelete="CASCADE"))
    agency: Mapped[str] = mapped_column(String(32))
    person_id: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))  # agree | amend
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[dt.datetime]
    version: Mapped[int] = mapped_column(Integer, default=1)


class Obligation(Base):
    """Something someone owes by a time: a vote, the notification, a milestone, a return."""

    __tablename__ = "obligations"
    __table_args__ = (
        UniqueConstraint("case_id", "key"),
        Index("ix_obligations_open", "state", "due_at"),
        Index("ix_obligations_case_open", "case_id", "state", "due_at", "id"),  # a case's next deadline
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(96))
    kind: Mapped[str] = mapped_column(String(32))
    what: Mapped[str] = mapped_column(Text)
    owner_role: Mapped[str] = mapped_column(String(32))
    owner_agency: Mapped[str | None] = mapped_column(String(32))
    owner_person: Mapped[str | None] = mapped_column(String(64))  # a named person (an action's owner)
    due_at: Mapped[dt.datetime]
    plan_day: Mapped[int | None]
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | done | cancelled
    done_at: Mapped[dt.datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    # Given by phone, e-mail or in a meeting and recorded by the Business Manager: who recorded it, and how.
    recorded_by: Mapped[str | None] = mapped_column(String(64))
    record_method: Mapped[str | None] = mapped_column(String(16))


class Reminder(Base):
    """A timer: fires once. `key` makes scheduling idempotent; claiming makes firing exactly-once."""

    __tablename__ = "reminders"
    __table_args__ = (Index("ix_reminders_due", "state", "due_at", "id"),)  # the claim's WHERE and ORDER BY
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    obligation_id: Mapped[int | None] = mapped_column(ForeignKey("obligations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    due_at: Mapped[dt.datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | claimed | done | cancelled
    outcome: Mapped[str | None] = mapped_column(String(32))  # what firing did: sent | superseded | closed | …
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]


class OutboxMessage(Base):
    """A message to one person on one channel, written in the flow's transaction, sent after commit."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_pending", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))  # slack | teams | email | console
    address: Mapped[str] = mapped_column(String(320))  # Slack user id, Entra object id, or e-mail
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    replaces_key: Mapped[str | None] = mapped_column(String(200))  # update that message in place
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    external_ref: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime]
    sent_at: Mapped[dt.datetime | None]


class AuditEvent(Base):
    """Append-only: rows are inserted, never updated or deleted (database triggers refuse both), and
    chained: `hash` covers this event's content and `prev_hash` (see storage/audit_chain.py)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    # RESTRICT: a case with audit history cannot be deleted, so no audit row is ever rewritten
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="RESTRICT"), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    """The chain's last hash and length: one row, locked while events are appended."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    events: Mapped[int] = mapped_column(Integer, default=0)


class ConversationRef(Base):
    """A Teams conversation reference, for proactive messages, per Entra user and tenant."""

    __tablename__ = "teams_conversations"
    __table_args__ = (UniqueConstraint("aad_object_id", "tenant_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    aad_object_id: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[str] = mapped_column(String(64))
    reference: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime]


class CalendarEvent(Base):
    """An Outlook event created through Graph; `transaction_id` makes Graph's retries harmless."""

    __tablename__ = "calendar_events"
    __table_args__ = (UniqueConstraint("case_id", "purpose"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(64))
    transaction_id: Mapped[str] = mapped_column(String(64), unique=True)
    graph_event_id: Mapped[str | None] = mapped_column(String(256))
    join_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class Link(Base):
    """A single-purpose link for one person (or the referrer) on one case, sent by e-mail.

    Only the SHA-256 of the URL's token is kept. The token itself is `salt.HMAC(key, salt)` under
    `PANELBOT_LINK_KEY` from the environment, so a reminder can send the same link again without the
    store holding anything that opens it (`bot/flows/links.py`)."""

    __tablename__ = "links"
    __table_args__ = (Index("ix_links_scope", "case_id", "purpose", "person_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    salt: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(24))  # bot.flows.links.Purpose
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    person_id: Mapped[str | None] = mapped_column(String(64))  # None: the referrer, at `address`
    address: Mapped[str] = mapped_column(String(320))  # the e-mail address it was sent to
    round_id: Mapped[int | None] = mapped_column(ForeignKey("screening_rounds.id", ondelete="CASCADE"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="CASCADE"))
    obligation_id: Mapped[int | None] = mapped_column(ForeignKey("obligations.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]  # the last action taken through it
    uses: Mapped[int] = mapped_column(Integer, default=0)
    revoked_at: Mapped[dt.datetime | None]
    revoked_by: Mapped[str | None] = mapped_column(String(64))
