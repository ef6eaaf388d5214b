"""The case's personal data as flows keep and use it: Part A section 4 (the child's details) and the
referrer's phone and e-mail, each kept as one document sealed under PANELBOT_DATA_KEY
(`bot.sealing`), read back for checks and for the places that show Part A; and the refusal of free
text that repeats Part A (see `bot.flows.disclosure`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot import sealing
from bot.config import Role
from bot.flows import disclosure
from bot.flows.commands import Command, Ref
from bot.flows.common import Env, FlowError, audit, load_case, person_or_refuse, require_role
from bot.sealing import Seal
from storage.models import Case, Child
from storage.uow import UnitOfWork

SECTION_4 = (
    "last_name",
    "forenames",
    "other_names",
    "date_of_birth",
    "nhs_number",
    "age",
    "gender",
    "ethnicity",
    "disability",
    "home_address",
    "carers",
)
LEGACY_COLUMNS = tuple(name for name in SECTION_4 if name != "nhs_number")  # rows from before sealing
CONTACT = ("phone", "email")


class Identifying(FlowError):
    """Free text bound for chat or e-mail that would identify the child."""

    code = "identifying"


@dataclass(frozen=True)
class PartA:
    """Part A section 4 as it can be shown: `state` is open, locked (no key), wrong_key, erased or none."""

    state: str
    details: dict[str, Any] | None = None

    @property
    def readable(self) -> bool:
        return self.state == Seal.OPEN and self.details is not None

    @property
    def notice(self) -> str:
        return {
            "open": "",
            "none": "No Part A section 4 details were given.",
            "erased": "Erased under the retention policy.",
            "locked": "Locked: this store's Part A is encrypted and PANELBOT_DATA_KEY is not set.",
            "wrong_key": "Cannot be opened: PANELBOT_DATA_KEY does not hold the key it was sealed with.",
        }[self.state]


def seal_child(env: Env, case: Case, details: dict[str, Any]) -> Child:
    """The child row for a new case: section 4 as one document, sealed when a key is configured."""
    data = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in details.items() if v not in (None, "")}
    return Child(case_id=case.id, sealed=sealing.store(env.data_keys, data))


def seal_contact(env: Env, phone: str | None, email: str | None) -> str | None:
    data = {k: v for k, v in {"phone": phone, "email": email}.items() if v}
    return sealing.store(env.data_keys, data) if data else None


def referrer_contact(env: Env, case: Case) -> tuple[Seal, dict[str, Any]]:
    """The referrer's phone and e-mail (sealed, or in the old columns for cases from before sealing)."""
    if case.referrer_sealed is None:
        return Seal.OPEN, {k: v for k, v in {"phone": case.referrer_phone, "email": case.referrer_email}.items() if v}
    state, data = sealing.read(env.data_keys, case.referrer_sealed)
    return state, data or {}


async def part_a(uow: UnitOfWork, env: Env, case: Case) -> PartA:
    """The child's details for `case`, as far as the keys at hand allow."""
    if case.personal_erased_at is not None:
        return PartA("erased")
    child = await uow.session.scalar(select(Child).where(Child.case_id == case.id))
    if child is None:
        return PartA("none")
    if child.sealed is None:  # kept before sealing existed: the old columns
        legacy = {name: getattr(child, name) for name in LEGACY_COLUMNS if getattr(child, name) is not None}
        return PartA("open", {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in legacy.items()})
    state, data = sealing.read(env.data_keys, child.sealed)
    return PartA(state.value, data)


class ReadPartA(Command):
    """The Business Manager opens a case's Part A section 4 (an audited read)."""

    ref: Ref


async def read_part_a(cmd: ReadPartA, uow: UnitOfWork, env: Env) -> tuple[str, PartA]:
    """Part A for the Business Manager, or why it cannot be shown (locked, wrong key, erased); audited
    either way, with how it read and never what it holds."""
    person = person_or_refuse(env, cmd.by)
    require_role(person, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref)
    shown = await part_a(uow, env, case)
    audit(uow, env, person.id, "part_a_read", case, state=shown.state)
    return case.ref, shown


async def refuse_part_a(uow: UnitOfWork, env: Env, case: Case, **texts: str | None) -> None:
    """Refuse (naming the field and the kind of detail, never the detail) text repeating the case's Part A.
    When Part A cannot be read (no key), only the pattern checks made on the command apply."""
    given = {field: text for field, text in texts.items() if text}
    if not given:
        return
    details = await part_a(uow, env, case)
    if not details.readable:
        return
    for field, text in given.items():
        found = disclosure.part_a_findings(text, details.details or {})
        if found:
            raise Identifying(disclosure.findings_message(field, found), ref=case.ref, field=field, found=found)
