"""What every flow shares: its environment, its errors, and the three things it writes besides state
(audit events, outbox rows, reminder rows), always in the caller's transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import select

from bot.clock import Clock
from bot.config import AppConfig, Channel, Person, Role
from bot.messages import Message
from bot.sealing import Keyring
from bot.states import OutboxState, ReminderState
from bot.workdays import WorkCalendar
from storage.models import AuditEvent, Case, OutboxMessage, Reminder
from storage.uow import UnitOfWork

# Without PANELBOT_LINK_KEY a process makes its own: its links work until they expire, but after a
# restart a reminder cannot repeat them and sends a new one (bot/flows/links.py).
PROCESS_LINK_KEY = secrets.token_bytes(32)


@dataclass(frozen=True)
class Env:
    cfg: AppConfig
    clock: Clock
    link_key: bytes = PROCESS_LINK_KEY
    operator: str | None = None  # the operating-system user behind a CLI command, audited beside its `--by`
    data_keys: Keyring | None = None  # PANELBOT_DATA_KEY: seals Part A and contact details (bot/sealing.py)

    @cached_property
    def cal(self) -> WorkCalendar:
        return WorkCalendar.from_config(self.cfg)

    def now(self) -> dt.datetime:
        return self.clock.now()

    def local(self, moment: dt.datetime) -> str:
        """A time as a person reads it: `Mon 21 Dec 2026 10:00`, Europe/London."""
        return moment.astimezone(self.cfg.tz).strftime("%a %d %b %Y %H:%M")

    def local_day(self, moment: dt.datetime) -> str:
        return moment.astimezone(self.cfg.tz).strftime("%a %d %b %Y")


class FlowError(Exception):
    """A request the flow will not carry out; `message` is what the person is told."""

    code = "invalid"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(FlowError):
    code = "not_found"


class Refused(FlowError):
    """Not allowed for this person. The runner audits it after rolling the flow back."""

    code = "refused"


class Conflict(FlowError):
    code = "conflict"


def audit(uow: UnitOfWork, env: Env, actor: str, action: str, case: Case | None = None, **details: Any) -> None:
    """Record an event in the audit log: it is chained (storage/audit_chain.py) when the flow commits.
    A CLI command's events also name the operating-system user behind it."""
    if env.operator is not None:
        details = {"os_user": env.operator, **details}
    uow.add_audit(
        AuditEvent(at=env.now(), actor=actor, action=action, case_id=case.id if case else None, details=details)
    )


def channel_address(person: Person) -> tuple[str, str]:
    if person.channel is Channel.SLACK and person.slack:
        return Channel.SLACK.value, person.slack
    if person.channel is Channel.TEAMS and person.teams:
        return Channel.TEAMS.value, person.teams
    return Channel.EMAIL.value, person.email


def post(
    uow: UnitOfWork,
    env: Env,
    person: Person,
    message: Message,
    key: str,
    case: Case | None = None,
    replaces_key: str | None = None,
    channel: str | None = None,
) -> None:
    """Queue a message to a roster person, on their own channel unless one is named.

    `key` is unique: queueing the same key twice in one transaction is a bug, and across
    transactions the unique index turns a retried flow's duplicate into a retry of the flow."""
    if channel is None:
        channel, address = channel_address(person)
    else:
        address = {"slack": person.slack, "teams": person.teams, "email": person.email}[channel] or person.email
    page = case_page(env, message.ref)
    if page and message.link is None:
        message = message.model_copy(update={"link": page})
    queue_row(uow, env, channel, address, person.id, message, key, case, replaces_key)


def case_page(env: Env, ref: str | None) -> str | None:
    """The case's page on the desk, when the desk's public address (`web.base_url`) is configured."""
    base = env.cfg.web.base_url
    return f"{base.rstrip('/')}/cases/{ref}" if base and ref else None


def post_email(uow: UnitOfWork, env: Env, address: str, message: Message, key: str, case: Case | None) -> None:
    """Queue an e-mail to someone outside the roster (the referrer)."""
    queue_row(uow, env, Channel.EMAIL.value, address, None, message, key, case, None)


def queue_row(
    uow: UnitOfWork,
    env: Env,
    channel: str,
    address: str,
    person_id: str | None,
    message: Message,
    key: str,
    case: Case | None,
    replaces_key: str | None,
) -> None:
    now = env.now()
    row = OutboxMessage(
        key=key,
        case_id=case.id if case else None,
        person_id=person_id,
        channel=channel,
        address=address,
        kind=message.kind,
        payload=message.model_dump(mode="json"),
        replaces_key=replaces_key,
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    uow.session.add(row)
    if channel == Channel.EMAIL.value and message.actions:
        uow.needs_links.append(row)  # the e-mail gets the person's links at the end of the flow


async def schedule(
    uow: UnitOfWork,
    kind: str,
    key: str,
    due_at: dt.datetime,
    case: Case | None = None,
    obligation_id: int | None = None,
    **payload: Any,
) -> None:
    """Add a reminder unless one with this key exists (scheduling twice is harmless)."""
    existing = await uow.session.scalar(select(Reminder.id).where(Reminder.key == key))
    if existing is not None:
        return
    uow.session.add(
        Reminder(
            key=key,
            kind=kind,
            due_at=due_at,
            case_id=case.id if case else None,
            obligation_id=obligation_id,
            payload=payload,
            state=ReminderState.PENDING,
        )
    )


async def load_case(uow: UnitOfWork, ref: str, lock: bool = False) -> Case:
    query = select(Case).where(Case.ref == ref.strip().upper())
    if lock:
        query = query.with_for_update()
    case = await uow.session.scalar(query)
    if case is None:
        raise NotFound(f"There is no case {ref.strip()!r}.")
    return case


def person_or_refuse(env: Env, person_id: str) -> Person:
    person = env.cfg.person(person_id)
    if person is None:
        raise Refused(f"{person_id!r} is not on the partnership's roster.")
    return person


def acting_for(env: Env, cmd: Any) -> tuple[Person, Person | None]:
    """Whose act a command is, and who recorded it for them: only a Business Manager records what
    someone else said (by phone, e-mail or in a meeting). Without `on_behalf_of`, `by` acts."""
    by = person_or_refuse(env, cmd.by)
    target_id = getattr(cmd, "on_behalf_of", None)
    if target_id is None:
        return by, None
    if not by.has(Role.BUSINESS_MANAGER):
        raise Refused(f"Only the Business Manager can record something on someone's behalf; {by.name} is not.")
    target = person_or_refuse(env, target_id)
    if target.id == by.id:
        raise FlowError("Record your own actions directly, not on your own behalf.", field="on_behalf_of")
    return target, by


def behalf_details(recorder: Person | None, cmd: Any) -> dict[str, Any]:
    """What an audit event adds when someone else recorded it: both people are in the event."""
    return {"recorded_by": recorder.id, "method": cmd.method} if recorder is not None else {}


def require_role(person: Person, *roles: Role) -> None:
    if not any(person.has(r) for r in roles):
        names = " or ".join(r.value.replace("_", " ") for r in roles)
        raise Refused(f"Only the {names} can do this; {person.name} is not.")
