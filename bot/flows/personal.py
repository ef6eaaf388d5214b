"""The case's personal data as flows may use it: Part A section 4 (the child's details) read back for
checks, and the refusal of free text that repeats it (see `bot.flows.disclosure`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.flows import disclosure
from bot.flows.common import Env, FlowError
from storage.models import Case, Child
from storage.uow import UnitOfWork

SECTION_4 = (
    "last_name",
    "forenames",
    "other_names",
    "date_of_birth",
    "age",
    "gender",
    "ethnicity",
    "disability",
    "home_address",
    "carers",
)


class Identifying(FlowError):
    """Free text bound for chat or e-mail that would identify the child."""

    code = "identifying"


async def part_a(uow: UnitOfWork, env: Env, case: Case) -> dict[str, Any] | None:
    """The child's details for `case`, or None when there are none."""
    child = await uow.session.scalar(select(Child).where(Child.case_id == case.id))
    if child is None:
        return None
    return {name: getattr(child, name) for name in SECTION_4}


async def refuse_part_a(uow: UnitOfWork, env: Env, case: Case, **texts: str | None) -> None:
    """Refuse (naming the field and the kind of detail, never the detail) text repeating the case's Part A."""
    given = {field: text for field, text in texts.items() if text}
    if not given:
        return
    details = await part_a(uow, env, case)
    if not details:
        return
    for field, text in given.items():
        found = disclosure.part_a_findings(text, details)
        if found:
            raise Identifying(disclosure.findings_message(field, found), ref=case.ref, field=field, found=found)
