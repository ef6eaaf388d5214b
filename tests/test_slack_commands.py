"""`/panel list|show|help`, the App Home, and the other people's modals: the Executive Chair's
consultation on deadlock, the Business Manager's referrer answer, the scrutineer's disagreement."""

from __future__ import annotations

import json

from sqlalchemy import select

from storage.models import Decision, Scrutiny
from tests.fakes.slack_steps import BM, CHAIR, HEALTH, LA, POLICE, RATIONALE, RR_GROUNDS, SCRUTINEER, Steps
from tests.fakes.slack_workspace import buttons, input_blocks, shown_text

pytest_plugins = ("tests.fakes.slack_fixtures",)


async def test_panel_list_show_and_help(steps: Steps) -> None:
    ref = await steps.register()
    await steps.vote(POLICE, ref, "Audit & assurance")

    listed = await steps.slack.command(HEALTH, "list")
    assert listed.status == 200 and listed.body["response_type"] == "ephemeral"
    text = json.dumps(listed.body["blocks"])
    assert ref in text and "screening" in text and "still to vote" in text
    assert "Tameside MBC (Sam Patel, Alex Morgan)" in text and "Greater Manchester Police" not in text

    shown = await steps.slack.command(HEALTH, f"show {ref.lower()}")
    assert shown.body["response_type"] == "ephemeral"
    text = shown_text(shown.body["blocks"])
    assert "Greater Manchester Police" in text and "Chris Lee: Audit & assurance" in text
    assert "Screening due" in text
    assert "Dr A Referrer" not in text and "referrer@example.org" not in text  # never the Part A details

    missing = await steps.slack.command(HEALTH, "show TSCP-1999-999")
    assert "There is no case" in missing.body["text"]

    for text in ("help", "", "what"):
        helped = await steps.slack.command(HEALTH, text)
        assert "/panel list" in helped.body["text"] and helped.body["response_type"] == "ephemeral"


async def test_app_home_for_business_manager_and_panel_member(steps: Steps) -> None:
    ref = await steps.register()
    await steps.vote(POLICE, ref, "Audit & assurance")
    for user in (BM, POLICE, HEALTH):
        await steps.slack.open_home(user)
    homes = {c.body["user_id"]: json.dumps(c.body["view"]) for c in steps.api.calls_to("views.publish")}
    assert "Open cases" in homes[BM] and ref in homes[BM]
    assert "still to vote" in homes[BM] and "NHS Greater Manchester ICB (Priya Shah)" in homes[BM]
    assert "Waiting for your vote" in homes[HEALTH] and ref in homes[HEALTH]
    assert ref not in homes[POLICE] and "Nothing is waiting for you" in homes[POLICE]
    assert "Open cases" not in homes[HEALTH]


async def test_deadlock_consultation_modal_for_the_executive_chair(steps: Steps) -> None:
    ref = await steps.register()
    await steps.vote(POLICE, ref, "Audit & assurance")
    await steps.vote(LA, ref, "No further action")
    await steps.vote(HEALTH, ref, "Rapid Review", notifiable="yes", **RR_GROUNDS)
    await steps.drain()
    deadlock = steps.api.last_dm(CHAIR, "no majority")
    assert list(buttons(deadlock)) == ["Record consultation outcome"]
    assert buttons(steps.api.last_dm(POLICE, "no majority")) == {}

    view = await steps.open_modal(CHAIR, deadlock, "Record consultation outcome")
    assert {"pathway", "notifiable", "rationale", "how"} <= set(input_blocks(view))
    values = {"pathway": "audit_assurance", "notifiable": "no", "rationale": RATIONALE, "how": "phone call, 14:00"}
    answer = await steps.slack.submit(CHAIR, view, values)
    assert "Consultation outcome recorded: Audit & assurance" in shown_text(answer.modal)
    [decision] = await steps.service.read(lambda uow: _all(uow, Decision))
    assert (decision.method, decision.decided_by) == ("consultation", "exec-chair")
    await steps.drain()
    assert steps.api.last_dm(POLICE, "has decided")


async def test_referrer_answer_modal_reopens_voting(steps: Steps) -> None:
    ref = await steps.register()
    await steps.vote(
        POLICE, ref, "Queries to referrer", rationale="Which school does the child attend, and since when?"
    )
    await steps.vote(LA, ref, "Queries to referrer")
    await steps.drain()
    query = steps.api.last_dm(BM, "questions for the referrer")
    view = await steps.open_modal(BM, query, "Record referrer answer")
    answer = await steps.slack.submit(BM, view, {"text": "The referrer replied by phone with the details."})
    assert "voting round 2 is open" in json.dumps(answer.modal)
    await steps.drain()
    first, second = [m for m in steps.api.dms(HEALTH) if "needs" in m["text"] or "voting has closed" in m["text"]]
    assert "voting has closed" in first["text"] and buttons(first) == {}
    assert len(buttons(second)) == 4 and "after the referrer" in json.dumps(second["blocks"])


async def test_scrutineer_disagrees_through_a_modal(steps: Steps) -> None:
    ref = await steps.register()
    await steps.vote(POLICE, ref, "No further action")
    await steps.vote(LA, ref, "No further action")
    await steps.drain()
    decision = steps.api.last_dm(SCRUTINEER, "has decided")
    view = await steps.open_modal(SCRUTINEER, decision, "Disagree")
    assert view["title"]["text"] == "Disagree"
    short = await steps.slack.submit(SCRUTINEER, view, {"comment": "No."})
    assert short.body["response_action"] == "errors" and "comment" in short.body["errors"]
    answer = await steps.slack.submit(SCRUTINEER, view, {"comment": "The injuries warrant a Rapid Review."})
    assert "disagreement is recorded" in json.dumps(answer.modal)
    await steps.drain()
    assert steps.api.last_dm(BM, "Scrutineer disagrees")
    [row] = await steps.service.read(lambda uow: _all(uow, Scrutiny))
    assert (row.verdict, row.comment) == ("disagree", "The injuries warrant a Rapid Review.")


async def _all(uow, model):  # type: ignore[no-untyped-def]
    return list(await uow.session.scalars(select(model).order_by(model.id)))
