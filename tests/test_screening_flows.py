"""The screening panel's rules, driven through the flows with a manual clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from bot.flows.commands import (
    CastVote,
    RecordConsultation,
    RecordNotificationSent,
    RecordReferrerAnswer,
    RecordScrutiny,
    RegisterReferral,
)
from bot.flows.common import Conflict, NotFound, Refused
from bot.flows.screening import panel as screening
from bot.worker import reminders as timers
from tests.conftest import london
from tests.helpers import SUMMARY, audits, current_votes, outbox, recipients, refer, vote

VOTERS = {"la-dsp", "la-deputy", "police-dsp", "health-dsp"}


async def test_referral_gets_reference_deadlines_and_convenes_the_panel(service):
    case = await refer(service, received_at=london(2026, 12, 21, 10, 0))
    second = await refer(service)
    assert (case.ref, second.ref) == ("TSCP-2026-001", "TSCP-2026-002")
    assert case.screening_due == london(2026, 12, 23, 17, 0)
    assert case.notification_due == london(2026, 12, 30, 17, 0)  # Christmas and the Boxing Day substitute
    requests = [m for m in await outbox(service, "vote_request") if m.case_id == case.id]
    assert recipients(requests) == VOTERS  # panel members and the LA deputy, each on their own channel
    assert {(m.person_id, m.channel) for m in requests} >= {
        ("la-dsp", "teams"),
        ("police-dsp", "slack"),
        ("la-deputy", "email"),
    }
    convened = await outbox(service, "panel_convened")
    assert recipients(convened) == {"bm", "la-hos"}  # 004: the LA Head of Safeguarding & QA is alerted too


async def test_reference_numbers_restart_each_year(service):
    await refer(service, received_at=london(2026, 12, 31, 16, 0))
    new_year = await refer(service, received_at=london(2027, 1, 4, 9, 0))
    assert new_year.ref == "TSCP-2027-001"


async def test_only_the_business_manager_registers_referrals(service):
    with pytest.raises(Refused):
        await refer(service, by="police-dsp")
    refused = await audits(service, "refused")
    assert refused[-1].actor == "police-dsp" and refused[-1].details["command"] == "RegisterReferral"


async def test_no_child_details_reach_any_message(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "rapid_review", True)
    await vote(service, "health-dsp", case.ref, "rapid_review", True)
    payloads = json.dumps([m.payload for m in await outbox(service)])
    for secret in ("Zebedee", "Quixotic", "Secret Lane"):
        assert secret not in payloads
    assert SUMMARY in payloads


async def test_a_vote_from_outside_the_panel_is_refused_and_audited(service):
    case = await refer(service)
    for stranger in ("scrutineer", "bm", "la-lead"):
        with pytest.raises(Refused) as refusal:
            await vote(service, stranger, case.ref, "no_further_action")
        assert "panel member or deputy" in refusal.value.message
    with pytest.raises(Refused):
        await vote(service, "nobody", case.ref, "no_further_action")
    assert [e.actor for e in await audits(service, "refused")] == ["scrutineer", "bm", "la-lead", "nobody"]


async def test_unknown_reference_is_not_found(service):
    with pytest.raises(NotFound):
        await vote(service, "la-dsp", "TSCP-2026-999", "no_further_action")


def test_rationale_length_and_rapid_review_grounds_are_checked():
    with pytest.raises(ValidationError, match="at least 20"):
        CastVote(by="la-dsp", ref="TSCP-2026-001", pathway="no_further_action", notifiable=False, rationale="short")
    with pytest.raises(ValidationError, match="at most 3000"):
        CastVote(by="la-dsp", ref="TSCP-2026-001", pathway="no_further_action", notifiable=False, rationale="x" * 3001)
    with pytest.raises(ValidationError, match="serious-harm"):
        CastVote(by="la-dsp", ref="TSCP-2026-001", pathway="rapid_review", notifiable=True, rationale="r" * 30)


async def test_majority_of_two_decides_and_tells_everyone(service):
    case = await refer(service)
    first = await vote(service, "la-dsp", case.ref, "audit_assurance")
    assert first.decision is None and await outbox(service, "decision") == []
    service.clock.advance(dt.timedelta(hours=3))
    second = await vote(service, "police-dsp", case.ref, "audit_assurance")
    decision = second.decision
    assert (decision.pathway, decision.notifiable, decision.method) == ("audit_assurance", False, "majority")
    assert decision.decided_at == service.clock.now()
    assert {v["agency"] for v in decision.deciding_votes} == {"la", "police"}
    notices = await outbox(service, "decision")
    assert recipients(notices) == {"la-dsp", "police-dsp", "health-dsp", "bm", "scrutineer", "exec-chair"}
    scrutineer = next(m for m in notices if m.person_id == "scrutineer")
    assert [a["id"] for a in scrutineer.payload["actions"]] == ["scrutiny-concur", "scrutiny-disagree"]
    closed = await outbox(service, "vote_closed")
    assert all(m.replaces_key.startswith("vote_request:") for m in closed) and recipients(closed) == VOTERS
    assert await outbox(service, "referrer_outcome") == []  # the referrer hears after the scrutineer
    await service.run(screening.record_scrutiny, RecordScrutiny(by="scrutineer", ref=case.ref, verdict="concur"))
    referrer = await outbox(service, "referrer_outcome")
    assert [(m.channel, m.address) for m in referrer] == [("email", "referrer@example.org")]


async def test_split_notifiable_answers_wait_for_the_third_vote(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "rapid_review", True)
    waiting = await vote(service, "police-dsp", case.ref, "rapid_review", False)
    assert waiting.decision is None
    third = await vote(service, "health-dsp", case.ref, "rapid_review", True)
    assert (third.decision.pathway, third.decision.notifiable) == ("rapid_review", True)


async def test_a_deputy_votes_for_the_agency_and_replaces_the_members_vote(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    changed = await vote(service, "la-deputy", case.ref, "audit_assurance")
    assert changed.status == "changed"
    votes = await current_votes(service, case)
    assert [(v.agency, v.person_id, v.pathway, v.version) for v in votes] == [("la", "la-deputy", "audit_assurance", 2)]
    history = [e.details["pathway"] for e in await audits(service) if e.action in ("vote_recorded", "vote_changed")]
    assert history == ["no_further_action", "audit_assurance"]


async def test_a_double_click_records_nothing_new(service):
    case = await refer(service)
    await vote(service, "police-dsp", case.ref, "audit_assurance")
    before = len(await outbox(service))
    again = await vote(service, "police-dsp", case.ref, "audit_assurance")
    assert again.status == "unchanged"
    assert len(await outbox(service)) == before
    assert len(await audits(service, "vote_recorded")) == 1


async def test_a_vote_after_the_decision_is_recorded_but_changes_nothing(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    decided = await vote(service, "health-dsp", case.ref, "no_further_action")
    late = await vote(service, "police-dsp", case.ref, "rapid_review", True)
    assert late.status == "after_decision" and late.decision.id == decided.decision.id
    assert late.decision.pathway == "no_further_action"
    [notice] = await outbox(service, "late_vote")
    assert notice.person_id == "police-dsp"
    votes = await current_votes(service, case)
    assert [(v.agency, v.after_decision) for v in votes][-1] == ("police", True)


async def test_one_one_one_deadlocks_then_a_changed_vote_decides(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "rapid_review", True)
    await vote(service, "police-dsp", case.ref, "audit_assurance", True)
    split = await vote(service, "health-dsp", case.ref, "no_further_action", True)
    assert split.decision is None
    deadlocks = await outbox(service, "deadlock")
    assert {"exec-chair", "scrutineer", "bm", "la-dsp", "police-dsp", "health-dsp"} <= recipients(deadlocks)
    chair = next(m for m in deadlocks if m.person_id == "exec-chair")
    assert chair.payload["actions"][0]["id"] == "consultation-record"
    changed = await vote(service, "police-dsp", case.ref, "rapid_review", True)
    assert (changed.decision.pathway, changed.decision.method) == ("rapid_review", "majority")


async def test_consultation_closes_a_deadlocked_round(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "rapid_review", True)
    await vote(service, "police-dsp", case.ref, "audit_assurance", True)
    cmd = RecordConsultation(
        by="exec-chair",
        ref=case.ref,
        pathway="rapid_review",
        notifiable=True,
        rationale="Agreed by phone with all three partners at 14:00.",
        how="phone call",
    )
    with pytest.raises(Conflict):  # not deadlocked yet: the third vote may still decide
        await service.run(screening.record_consultation, cmd)
    await vote(service, "health-dsp", case.ref, "no_further_action", True)
    with pytest.raises(Refused):
        await service.run(screening.record_consultation, cmd.model_copy(update={"by": "police-dsp"}))
    decision = await service.run(screening.record_consultation, cmd)
    assert (decision.method, decision.decided_by, decision.pathway) == ("consultation", "exec-chair", "rapid_review")
    assert decision.deciding_votes == [{"consulted_by": "exec-chair", "how": "phone call"}]


async def test_the_deadline_passing_without_a_majority_is_a_deadlock(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "rapid_review", True)
    service.clock.set(london(2026, 12, 23, 16, 59))
    await timers.fire_due(service)
    assert await audits(service, "deadlock") == []
    service.clock.set(london(2026, 12, 23, 17, 0))
    fired = await timers.fire_due(service)
    assert "screening_deadline" in [r.kind for r in fired]
    [deadlock] = await audits(service, "deadlock")
    assert "deadline passed" in deadlock.details["reason"] and deadlock.at == service.clock.now()
    service.clock.set(london(2026, 12, 24, 9, 0))
    await timers.fire_due(service)
    assert len(await audits(service, "deadlock")) == 1  # fired once


async def test_a_decided_round_ignores_its_deadline(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    await vote(service, "police-dsp", case.ref, "no_further_action")
    service.clock.set(london(2026, 12, 24, 9, 0))
    await timers.fire_due(service)
    assert await audits(service, "deadlock") == []


async def test_queries_to_the_referrer_pause_then_open_round_two(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "query_referrer", rationale="Was the child seen by a paediatrician?")
    decided = await vote(service, "police-dsp", case.ref, "query_referrer")
    assert decided.decision.pathway == "query_referrer"
    [query] = await outbox(service, "referrer_query")
    assert query.person_id == "bm"
    assert "Was the child seen by a paediatrician?" in json.dumps(query.payload)
    late = await vote(service, "health-dsp", case.ref, "no_further_action")
    assert late.status == "after_decision"
    with pytest.raises(Refused):
        await service.run(
            screening.record_referrer_answer,
            RecordReferrerAnswer(by="la-dsp", ref=case.ref, text="The referrer said yes."),
        )
    service.clock.set(london(2026, 12, 28, 11, 0))  # a bank holiday (Boxing Day substitute)
    rnd = await service.run(
        screening.record_referrer_answer,
        RecordReferrerAnswer(by="bm", ref=case.ref, text="Yes, on the day of admission."),
    )
    assert rnd.number == 2
    round_two = [m for m in await outbox(service, "vote_request") if m.key.startswith(f"vote_request:{rnd.id}:")]
    assert recipients(round_two) == VOTERS
    again = await vote(service, "la-dsp", case.ref, "rapid_review", True)
    final = await vote(service, "health-dsp", case.ref, "rapid_review", True)
    assert again.decision is None and final.decision.pathway == "rapid_review"
    reloaded = await service.read(lambda uow: screening.load_case(uow, case.ref))
    assert reloaded.screening_due == case.screening_due  # the statutory deadline did not move


async def test_scrutiny_concur_and_disagree(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    await vote(service, "police-dsp", case.ref, "no_further_action")
    concur = await service.run(
        screening.record_scrutiny, RecordScrutiny(by="scrutineer", ref=case.ref, verdict="concur")
    )
    assert concur.verdict == "concur" and await outbox(service, "scrutiny_disagreement") == []
    with pytest.raises(Refused):
        await service.run(screening.record_scrutiny, RecordScrutiny(by="police-dsp", ref=case.ref, verdict="concur"))
    comment = "Serious harm looks met; I would like the panel to explain its rationale."
    await service.run(
        screening.record_scrutiny, RecordScrutiny(by="scrutineer", ref=case.ref, verdict="disagree", comment=comment)
    )
    [ask] = await outbox(service, "scrutiny_disagreement")
    assert ask.person_id == "bm" and comment in json.dumps(ask.payload)


async def test_notifiable_decision_asks_the_la_to_notify_and_records_it(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "rapid_review", True)
    await vote(service, "health-dsp", case.ref, "rapid_review", True)
    [task] = await outbox(service, "notification_due")
    assert task.person_id == "la-hos" and task.payload["actions"][0]["id"] == "notification-sent"
    with pytest.raises(Refused):
        await service.run(screening.record_notification_sent, RecordNotificationSent(by="police-dsp", ref=case.ref))
    service.clock.set(london(2026, 12, 24, 11, 0))
    notified = await service.run(screening.record_notification_sent, RecordNotificationSent(by="la-hos", ref=case.ref))
    assert notified.rapid_review_due == london(2027, 1, 19, 17, 0)
    again = await service.run(screening.record_notification_sent, RecordNotificationSent(by="la-hos", ref=case.ref))
    assert again.notified_at == notified.notified_at  # a second click changes nothing


async def test_no_notification_for_a_case_that_is_not_notifiable(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    await vote(service, "police-dsp", case.ref, "no_further_action")
    assert await outbox(service, "notification_due") == []
    with pytest.raises(Conflict):
        await service.run(screening.record_notification_sent, RecordNotificationSent(by="la-hos", ref=case.ref))


def test_referral_needs_a_panel_summary():
    with pytest.raises(ValidationError, match="panel_summary"):
        RegisterReferral(by="bm", referrer={"name": "X"}, panel_summary="")


async def test_disagreeing_again_after_concurring_tells_the_business_manager_again(service):
    case = await refer(service)
    await vote(service, "la-dsp", case.ref, "no_further_action")
    await vote(service, "police-dsp", case.ref, "no_further_action")
    comment = "Serious harm looks met; I would like the panel to explain its rationale."
    for verdict in ("disagree", "concur", "disagree"):  # all at the same instant
        await service.run(
            screening.record_scrutiny,
            RecordScrutiny(
                by="scrutineer", ref=case.ref, verdict=verdict, comment=comment if verdict == "disagree" else None
            ),
        )
    assert len(await outbox(service, "scrutiny_disagreement")) == 2


async def test_open_cases_are_those_screening_or_still_owing_something(service):
    from bot.views import cases_view

    closed = await refer(service)
    await vote(service, "la-dsp", closed.ref, "no_further_action")
    await vote(service, "police-dsp", closed.ref, "no_further_action")
    await service.run(screening.record_scrutiny, RecordScrutiny(by="scrutineer", ref=closed.ref, verdict="concur"))
    screening_case = await refer(service)
    rows = await service.read(lambda uow: cases_view(uow, service.env, open_only=True))
    assert [r["ref"] for r in rows] == [screening_case.ref]
