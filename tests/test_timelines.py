"""A Rapid Review from notification to submission over Christmas, with the LA's Day 10 return late:
the plan, the chases and escalations at their working-hour times, nobody chased who has delivered,
the delay prompt when the plan slips, the delay notice, and the Day 13 invite sent on Day 3."""

from __future__ import annotations

import datetime as dt

import pytest

from bot import interactions as actions
from bot.flows.commands import MarkDone, RecordDelay, RecordOutcome, RecordSubmission, SignOff
from bot.flows.common import Conflict, Refused
from bot.flows.timelines.plan import mark_done, record_delay, timeline
from bot.flows.timelines.review import record_outcome, record_submission, sign_off
from tests.helpers import audits
from tests.timeline_support import LONDON, Run, london, rapid_review

LEADS = ["la-lead", "police-lead", "health-lead"]


async def test_rapid_review_over_christmas_with_a_late_agency_return(service):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))  # Day 1: Tue 22 Dec

    # The plan: Day 1 is the notification; Christmas, Boxing Day (Mon 28) and New Year's Day skipped.
    view = await service.read(lambda uow: timeline(uow, service.env, ref))
    plan = {o["key"]: (o["due_local"], o["owner_role"], o["owner_agency"]) for o in view["obligations"]}
    assert plan["rr:notify"][0] == "Tue 22 Dec 2026 17:00" and view["obligations"][0]["state"] == "done"
    assert plan["rr:templates"] == ("Thu 24 Dec 2026 17:00", "business_manager", None)
    for agency in ("la", "police", "health"):
        assert plan[f"rr:agency_return:{agency}"] == ("Thu 07 Jan 2027 17:00", "agency_lead", agency)
    assert plan["rr:panel_meeting"] == ("Tue 12 Jan 2027 17:00", "rr_chair", None)
    assert plan["rr:submit"] == ("Thu 14 Jan 2027 17:00", "business_manager", None)
    assert view["rapid_review_due"] == "2027-01-15T17:00:00+00:00"  # 15 working days after Tue 22 Dec
    told = {s.to for s in run.messages("milestone_due")}
    assert told == {"la-hos", "bm", "rr-chair", *LEADS}

    await run.done(london(2026, 12, 23, 10, 0), "la-hos", ref, "recommend")
    await run.done(london(2026, 12, 24, 11, 0), "bm", ref, "templates")
    await run.done(london(2027, 1, 6, 15, 0), "health-lead", ref, "agency_return")
    await run.done(london(2027, 1, 7, 8, 0), "police-lead", ref, "agency_return")  # before that day's chase
    await run.until(london(2027, 1, 11, 9, 30))
    reason = "The LA chronology is late: the allocated worker is off sick."
    await run.at(
        london(2027, 1, 11, 10, 0),
        record_delay,
        RecordDelay(by="bm", ref=ref, reason=reason, expected=dt.date(2027, 1, 20)),
    )
    await run.done(london(2027, 1, 11, 12, 0), "la-lead", ref, "agency_return")
    await run.done(london(2027, 1, 12, 8, 30), "bm", ref, "delay_notice:1")
    await run.done(london(2027, 1, 12, 10, 0), "bm", ref, "collate")
    await run.done(london(2027, 1, 13, 10, 0), "bm", ref, "circulate")
    await run.done(london(2027, 1, 15, 12, 0), "rr-chair", ref, "panel_meeting")
    outcome = RecordOutcome(
        by="rr-chair",
        ref=ref,
        immediate_actions="Safety plan for the sibling.",
        single_agency_learning="Health: the skeletal survey pathway.",
        multi_agency_learning="GP and early help shared too slowly.",
        cspr_criteria_met=False,
        recommendation="no_review",
        no_review_reason="The learning is clear and already acted on.",
        wider_system_issues=False,
        summary="Clear learning; no further review is needed.",
    )
    await run.at(london(2027, 1, 18, 16, 0), record_outcome, outcome)  # it is the chair's write-up
    for by in ("la-dsp", "police-dsp", "health-dsp"):
        await run.at(london(2027, 1, 18, 16, 30), sign_off, SignOff(by=by, ref=ref, verdict="agree"))
    await run.at(london(2027, 1, 19, 15, 0), record_submission, RecordSubmission(by="bm", ref=ref))
    await run.until(london(2027, 1, 29, 17, 0))

    assert await run.chases() == [
        ("Wed 23 Dec 09:00", "chase", "rr:recommend", "la-hos"),
        ("Wed 23 Dec 09:00", "chase", "rr:templates", "bm"),
        ("Thu 24 Dec 09:00", "chase", "rr:templates", "bm"),
        # Day 10 returns: all three the day before; on the day only the LA, which has not returned.
        ("Wed 06 Jan 09:00", "chase", "rr:agency_return:la", "la-lead"),
        ("Wed 06 Jan 09:00", "chase", "rr:agency_return:police", "police-lead"),
        ("Wed 06 Jan 09:00", "chase", "rr:agency_return:health", "health-lead"),
        ("Thu 07 Jan 09:00", "chase", "rr:agency_return:la", "la-lead"),
        ("Thu 07 Jan 09:00", "chase", "rr:collate", "bm"),
        # Overdue: the LA's lead, its deputy and the Business Manager.
        ("Fri 08 Jan 09:00", "escalation", "rr:agency_return:la", "la-lead"),
        ("Fri 08 Jan 09:00", "escalation", "rr:agency_return:la", "la-deputy"),
        ("Fri 08 Jan 09:00", "escalation", "rr:agency_return:la", "bm"),
        ("Fri 08 Jan 09:00", "chase", "rr:collate", "bm"),
        ("Fri 08 Jan 09:00", "chase", "rr:circulate", "bm"),
        ("Mon 11 Jan 09:00", "escalation", "rr:collate", "bm"),  # owner and Business Manager: one message
        ("Mon 11 Jan 09:00", "chase", "rr:circulate", "bm"),
        ("Mon 11 Jan 09:00", "chase", "rr:panel_meeting", "rr-chair"),
        ("Tue 12 Jan 09:00", "escalation", "rr:circulate", "bm"),
        ("Tue 12 Jan 09:00", "chase", "rr:panel_meeting", "rr-chair"),
        ("Tue 12 Jan 09:00", "chase", "rr:write_up", "rr-chair"),
        ("Wed 13 Jan 09:00", "escalation", "rr:panel_meeting", "rr-chair"),
        ("Wed 13 Jan 09:00", "escalation", "rr:panel_meeting", "bm"),
        ("Wed 13 Jan 09:00", "chase", "rr:write_up", "rr-chair"),
        ("Wed 13 Jan 09:00", "chase", "rr:submit", "bm"),
        ("Thu 14 Jan 09:00", "escalation", "rr:write_up", "rr-chair"),
        ("Thu 14 Jan 09:00", "escalation", "rr:write_up", "bm"),
        ("Thu 14 Jan 09:00", "chase", "rr:submit", "bm"),
        ("Fri 15 Jan 09:00", "escalation", "rr:submit", "bm"),
    ]

    # The plan slipped on Mon 11 Jan (5 working days left, 6 needed): one prompt; the day before, not yet.
    [prompt] = run.messages("delay_prompt")
    assert (prompt.at, prompt.to) == (london(2027, 1, 11, 9, 0), "bm")
    assert any("Tameside MBC" in f.label for f in prompt.item.message.facts)
    [notice] = run.messages("delay_notice")
    assert (notice.at, notice.to) == (london(2027, 1, 11, 10, 0), "bm")
    assert {f.label: f.value for f in notice.item.message.facts}["Expected"] == "Wed 20 Jan 2027"

    # The Day 13 meeting invite went out at the start of Day 3, to the panel and the chair.
    [invite] = run.messages("meeting_invite")
    meeting = invite.item.message.meeting
    assert invite.at == london(2026, 12, 24, 9, 0)
    assert meeting.start.astimezone(LONDON) == london(2027, 1, 12, 10, 0)
    assert meeting.attendees == sorted(
        p.email for p in service.cfg.roster if p.id in {"la-dsp", "police-dsp", "health-dsp", "rr-chair"}
    )

    view = await service.read(lambda uow: timeline(uow, service.env, ref))
    assert view["status"] == "submitted" and view["rag"] is None
    assert view["delay"] == {"reason": reason, "expected": "2027-01-20"}
    assert {o["state"] for o in view["obligations"] if o["key"].startswith("rr:")} == {"done"}


async def test_a_member_who_voted_is_never_chased(service):
    from tests.helpers import refer, vote

    run = Run(service)
    case = await refer(service)
    await run.until(london(2026, 12, 21, 15, 0))
    await vote(service, "la-dsp", case.ref, "audit_assurance")
    await run.until(london(2026, 12, 24, 17, 0))
    assert await run.chases() == [
        ("Tue 22 Dec 09:00", "chase", "vote:1:police", "police-dsp"),
        ("Tue 22 Dec 09:00", "chase", "vote:1:health", "health-dsp"),
        ("Wed 23 Dec 09:00", "chase", "vote:1:police", "police-dsp"),
        ("Wed 23 Dec 09:00", "chase", "vote:1:health", "health-dsp"),
        ("Thu 24 Dec 09:00", "escalation", "vote:1:police", "police-dsp"),
        ("Thu 24 Dec 09:00", "escalation", "vote:1:police", "bm"),
        ("Thu 24 Dec 09:00", "escalation", "vote:1:health", "health-dsp"),
        ("Thu 24 Dec 09:00", "escalation", "vote:1:health", "bm"),
        # The deadline passed without a majority: the Executive Chair's consultation, due Tue 29 Dec.
        ("Thu 24 Dec 09:00", "chase", "consultation:1", "exec-chair"),
    ]
    chase = run.messages("chase")[0].item.message
    assert [a.id.value for a in chase.actions][:1] == ["panel-vote"]  # the chase carries the vote buttons


async def test_only_the_owner_or_the_business_manager_may_mark_a_milestone_done(service):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))
    with pytest.raises(Refused):
        await service.run(mark_done, MarkDone(by="police-lead", ref=ref, key="rr:agency_return:la"))
    with pytest.raises(Refused):
        await service.run(mark_done, MarkDone(by="rr-chair", ref=ref, key="templates"))
    refusals = await audits(service, "refused")
    assert [(r.actor, r.details["key"]) for r in refusals] == [
        ("police-lead", "rr:agency_return:la"),
        ("rr-chair", "rr:templates"),
    ]

    # The button: Slack and Teams carry the key from the button's value `REF|key`.
    reply = await actions.submit(service, "milestone_done", "police-lead", ref, {"key": "rr:agency_return:police"})
    assert reply.ok, reply.text
    reply = await actions.submit(service, "milestone_done", "la-lead", f"{ref}|rr:agency_return:police", {})
    assert not reply.ok and "cannot" in reply.text
    # The Business Manager records what happened outside the bot, with a note.
    note = "Returned by e-mail on Day 9."
    reply = await actions.submit(service, "milestone_done", "bm", f"{ref}|rr:agency_return:la", {"note": note})
    assert reply.ok
    view = await service.read(lambda uow: timeline(uow, service.env, ref))
    states = {o["key"]: (o["state"], o["done_by"], o["note"]) for o in view["obligations"]}
    assert states["rr:agency_return:police"] == ("done", "police-lead", None)
    assert states["rr:agency_return:la"] == ("done", "bm", note)
    assert states["rr:agency_return:health"] == ("open", None, None)
    with pytest.raises(Conflict):  # the notification has its own button: it starts the clock
        await service.run(mark_done, MarkDone(by="bm", ref=ref, key="notification"))


async def test_a_delay_needs_a_date_after_the_statutory_one(service):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))
    with pytest.raises(Conflict):
        await service.run(record_delay, RecordDelay(by="bm", ref=ref, reason="x" * 20, expected=dt.date(2027, 1, 15)))
    with pytest.raises(Refused):
        await service.run(
            record_delay, RecordDelay(by="la-hos", ref=ref, reason="x" * 20, expected=dt.date(2027, 2, 1))
        )
    reply = await actions.submit(
        service, "rapid_review_delay", "bm", ref, {"reason": "x" * 20, "expected": "2027-02-01"}
    )
    assert reply.ok, reply.text
    view = await service.read(lambda uow: timeline(uow, service.env, ref))
    [notice] = [o for o in view["obligations"] if o["kind"] == "delay_notice"]
    assert (notice["key"], notice["state"], notice["due_local"]) == ("delay_notice:1", "open", "Wed 23 Dec 2026 17:00")
