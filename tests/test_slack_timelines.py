"""Chases, escalations and the Rapid Review plan reach Slack as DMs whose buttons work: a vote from a
chase, and an agency lead marking their Day 10 return done."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from bot.worker.reminders import fire_due
from storage.models import Obligation, Vote
from tests.fakes.slack_steps import LA, NOTIFIER, POLICE, POLICE_LEAD, RR_GROUNDS, Steps
from tests.fakes.slack_workspace import buttons, input_blocks, shown_text

pytest_plugins = ("tests.fakes.slack_fixtures",)


async def test_a_chase_carries_working_vote_buttons(steps: Steps) -> None:
    ref = await steps.register()
    steps.service.clock.advance(dt.timedelta(hours=23))  # Tue 09:00: a working day before the deadline
    await fire_due(steps.service)
    await steps.drain()
    chase = steps.api.last_dm(POLICE, f"{ref}: reminder")
    assert list(buttons(chase)) == ["Rapid Review", "Audit & assurance", "No further action", "Queries to referrer"]
    await steps.vote(POLICE, ref, "No further action", message=chase)
    [vote] = await steps.service.read(lambda uow: _all(uow, Vote))
    assert (vote.person_id, vote.pathway) == ("police-dsp", "no_further_action")


async def test_agency_lead_marks_the_return_done_from_slack(steps: Steps) -> None:
    ref = await steps.register()
    await steps.vote(POLICE, ref, "Rapid Review", notifiable="yes", **RR_GROUNDS)
    await steps.vote(LA, ref, "Rapid Review", notifiable="yes", **RR_GROUNDS)
    await steps.drain()
    await steps.slack.click(NOTIFIER, steps.api.last_dm(NOTIFIER, "notify the National Panel"), "Notification sent")
    await steps.drain()

    part = steps.api.last_dm(POLICE_LEAD, "Rapid Review")
    assert list(buttons(part)) == ["Mark done"]
    view = await steps.open_modal(POLICE_LEAD, part, "Mark done")
    assert set(input_blocks(view)) == {"note"}
    answer = await steps.slack.submit(POLICE_LEAD, view, {"note": "Chronology and summary sent to the BM."})
    assert "Recorded as done" in shown_text(answer.modal)
    [done] = [o for o in await steps.service.read(lambda uow: _all(uow, Obligation)) if o.done_by == "police-lead"]
    assert (done.state, done.owner_agency, done.note) == ("done", "police", "Chronology and summary sent to the BM.")


async def _all(uow, model):  # type: ignore[no-untyped-def]
    return list(await uow.session.scalars(select(model).order_by(model.id)))
