"""Recording on someone's behalf: the Business Manager records a vote, a scrutiny view or a
milestone that a person gave by phone, e-mail or in a meeting. The flows check both people; the
record and the audit event name both; the person is told on their own channel."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.flows.commands import CastVote, MarkDone, RecordNotificationSent, RecordScrutiny
from bot.flows.common import Refused
from bot.flows.screening import panel
from bot.flows.timelines import plan
from bot.service import Service
from tests.helpers import audits, current_votes, outbox, refer, vote

RATIONALE = "Told me by phone: the LA sees single-agency learning only."


def cast_for(by: str, whom: str | None, ref: str, method: str | None = "phone") -> CastVote:
    return CastVote(
        by=by,
        ref=ref,
        pathway="audit_assurance",
        notifiable=False,
        rationale=RATIONALE,
        on_behalf_of=whom,
        method=method if whom else None,
    )


async def test_business_manager_records_a_vote_for_the_la_deputy(service: Service) -> None:
    case = await refer(service)
    await service.run(panel.cast_vote, cast_for("bm", "la-deputy", case.ref))
    [stored] = await current_votes(service, case)
    assert (stored.person_id, stored.agency, stored.recorded_by, stored.record_method) == (
        "la-deputy",
        "la",
        "bm",
        "phone",
    )
    [event] = await audits(service, "vote_recorded")
    assert event.actor == "la-deputy" and event.details["recorded_by"] == "bm" and event.details["method"] == "phone"
    [told] = await outbox(service, "recorded_for_you")
    assert told.person_id == "la-deputy" and told.channel == "email"
    assert "Jo Baker recorded this for you" in told.payload["title"] and "by phone" in told.payload["title"]
    assert [a["id"] for a in told.payload["actions"]] == ["panel-vote-change"]


async def test_only_the_business_manager_records_for_others(service: Service) -> None:
    case = await refer(service)
    with pytest.raises(Refused, match="Only the Business Manager"):
        await service.run(panel.cast_vote, cast_for("police-dsp", "la-deputy", case.ref))
    assert not await current_votes(service, case)
    assert [a.actor for a in await audits(service, "refused")] == ["police-dsp"]


async def test_the_person_recorded_for_must_be_allowed_it_themselves(service: Service) -> None:
    case = await refer(service)
    with pytest.raises(Refused, match="panel member or deputy"):
        await service.run(panel.cast_vote, cast_for("bm", "scrutineer", case.ref))


def test_whose_and_how_come_together() -> None:
    with pytest.raises(ValidationError, match="phone, e-mail or meeting"):
        CastVote(by="bm", ref="TSCP-2026-001", pathway="audit_assurance", notifiable=False,
                 rationale=RATIONALE, on_behalf_of="la-deputy")  # fmt: skip


async def test_scrutiny_recorded_for_the_scrutineer(service: Service) -> None:
    case = await refer(service)
    for by in ("la-dsp", "police-dsp"):
        await vote(service, by, case.ref, "no_further_action")
    cmd = RecordScrutiny(by="bm", ref=case.ref, verdict="concur", on_behalf_of="scrutineer", method="meeting")
    row = await service.run(panel.record_scrutiny, cmd)
    assert (row.person_id, row.recorded_by, row.record_method) == ("scrutineer", "bm", "meeting")
    [event] = await audits(service, "scrutiny_concur")
    assert event.actor == "scrutineer" and event.details["recorded_by"] == "bm"
    assert [m.person_id for m in await outbox(service, "recorded_for_you")] == ["scrutineer"]


async def test_milestone_recorded_for_its_owner(service: Service) -> None:
    case = await refer(service)
    for by in ("la-dsp", "police-dsp"):
        await vote(service, by, case.ref, "rapid_review", notifiable=True)
    await service.run(panel.record_notification_sent, RecordNotificationSent(by="la-hos", ref=case.ref))
    cmd = MarkDone(by="bm", ref=case.ref, key="agency_return:police", on_behalf_of="police-lead", method="email")
    ob = await service.run(plan.mark_done, cmd)
    assert (ob.state, ob.done_by, ob.recorded_by, ob.record_method) == ("done", "police-lead", "bm", "email")
    [event] = [a for a in await audits(service, "obligation_done") if a.details.get("recorded_by")]
    assert event.actor == "police-lead" and event.details["method"] == "email"
    assert [m.person_id for m in await outbox(service, "recorded_for_you")] == ["police-lead"]
