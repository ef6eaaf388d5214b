"""Slack retries, double clicks, late votes and invalid modals: never a second vote, never a second
decision, and invalid input answered inline."""

from __future__ import annotations

import copy
import json
import time

from sqlalchemy import select

from storage.models import AuditEvent, Decision, OutboxMessage, Vote
from tests.fakes.slack_steps import HEALTH, LA, POLICE, RATIONALE, RR_GROUNDS, Steps
from tests.fakes.slack_workspace import buttons, input_blocks

pytest_plugins = ("tests.fakes.slack_fixtures",)


async def votes(steps: Steps) -> list[Vote]:
    return await steps.service.read(lambda uow: _all(uow, Vote))


async def _all(uow, model):  # type: ignore[no-untyped-def]
    return list(await uow.session.scalars(select(model).order_by(model.id)))


async def test_retried_delivery_records_one_vote(steps: Steps) -> None:
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "No further action")
    payload = steps.slack.submit_payload(POLICE, view, {"notifiable": "no", "rationale": RATIONALE})
    first = await steps.slack.interaction(payload)
    outcome = steps.slack.modal_after(view["id"], 0, first.body)
    outbox_after_first = await steps.count(OutboxMessage)
    for retry in (1, 2, 3):  # Slack's own retries of the same delivery
        before = len(steps.api.calls_to("views.update"))
        again = await steps.slack.interaction(
            payload, extra_headers={"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        )
        assert again.status == 200
        shown = steps.slack.modal_after(view["id"], before, again.body)
        assert "already recorded; nothing changed" in json.dumps(shown)
    assert "is recorded" in json.dumps(outcome)
    [vote] = await votes(steps)
    assert (vote.person_id, vote.pathway, vote.version) == ("police-dsp", "no_further_action", 1)
    assert await steps.count(OutboxMessage) == outbox_after_first  # no second "vote recorded" update
    await steps.drain()
    assert len(steps.api.ok_calls("chat.update")) == 1


async def test_retried_event_publishes_the_same_home(steps: Steps) -> None:
    await steps.register()
    before = len(steps.api.calls_to("views.publish"))
    body = steps.slack.event_body({"type": "app_home_opened", "user": POLICE, "tab": "home", "event_ts": "1.0"})
    for retry in (None, "1"):
        headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        answer = await steps.slack.post(body, "application/json", extra_headers=headers)
        assert answer.status == 200
    publishes = steps.api.calls_to("views.publish")[before:]
    assert [c.body["user_id"] for c in publishes] == [POLICE, POLICE]
    assert publishes[0].body["view"] == publishes[1].body["view"]
    assert await steps.count(Vote) == 0


async def test_double_click_and_double_submit_record_one_vote(steps: Steps) -> None:
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    first = await steps.open_modal(POLICE, request, "Audit & assurance")
    second = await steps.open_modal(POLICE, request, "Audit & assurance")  # the impatient second click
    assert first["id"] != second["id"]
    values = {"notifiable": "no", "rationale": RATIONALE}
    answers = [await steps.slack.submit(POLICE, view, values) for view in (first, second)]
    assert "is recorded" in json.dumps(answers[0].modal) and "nothing changed" in json.dumps(answers[1].modal)
    assert len(await votes(steps)) == 1
    await steps.drain()
    assert len(steps.api.ok_calls("chat.update")) == 1


async def test_decision_is_posted_once_and_a_late_vote_does_not_change_it(steps: Steps) -> None:
    ref = await steps.register()
    health_request = copy.deepcopy(steps.vote_request(HEALTH, ref))  # what Health's screen still shows
    await steps.vote(POLICE, ref, "Audit & assurance")
    await steps.vote(LA, ref, "Audit & assurance")
    # LA submits the same decisive vote again (a retry): still one decision.
    await steps.vote(LA, ref, "Audit & assurance", message=steps.vote_request(LA, ref))
    await steps.drain()
    decisions = steps.api.dms(HEALTH)
    assert sum("has decided" in m["text"] for m in decisions) == 1

    # Health's stale message: the buttons are gone from it now...
    assert buttons(steps.api.messages[(health_request["channel"], health_request["ts"])]) == {}
    # ...but a click on the old copy it still had (and a submission) arrives: recorded as late.
    answer = await steps.vote(HEALTH, ref, "Rapid Review", message=health_request, **RR_GROUNDS)
    assert "had already decided" in json.dumps(answer.modal)
    await steps.drain()
    assert steps.api.last_dm(HEALTH, "the panel had already decided")

    all_decisions = await steps.service.read(lambda uow: _all(uow, Decision))
    assert [(d.pathway, d.method) for d in all_decisions] == [("audit_assurance", "majority")]
    late = [v for v in await votes(steps) if v.after_decision]
    assert [(v.agency, v.pathway) for v in late] == [("health", "rapid_review")]
    decision_rows = [r for r in await steps.outbox(kind="decision") if r.person_id == "health-dsp"]
    assert len(decision_rows) == 1 and decision_rows[0].attempts == 1


async def test_invalid_modal_answers_with_inline_errors_and_records_nothing(steps: Steps) -> None:
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "Rapid Review")
    # Slack enforces the lengths it was told; it cannot know a Rapid Review needs its grounds.
    answer = await steps.slack.submit(POLICE, view, {"notifiable": "yes", "rationale": RATIONALE})
    assert answer.status == 200
    assert answer.body["response_action"] == "errors"
    assert set(answer.body["errors"]) == {"abuse_nature", "harm_basis"}
    assert set(answer.body["errors"]) <= set(input_blocks(view))  # keyed by the modal's own block ids
    assert await votes(steps) == []
    # Corrected, the same modal goes through.
    answer = await steps.slack.submit(POLICE, view, {"notifiable": "yes", "rationale": RATIONALE} | RR_GROUNDS)
    assert answer.body["response_action"] == "update"
    assert len(await votes(steps)) == 1


async def test_a_rationale_too_short_is_caught_by_the_server_too(steps: Steps) -> None:
    """A client that skips Slack's own length check (or an old modal) still meets the flow's rules."""
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "No further action")
    answer = await steps.slack.submit(POLICE, view, {"notifiable": "no", "rationale": "too short"})
    assert answer.body == {
        "response_action": "errors",
        "errors": {"rationale": "Please write at least 20 characters."},
    }
    refused = await steps.service.read(lambda uow: _all(uow, AuditEvent))
    assert not [e for e in refused if e.action.startswith("vote")]


async def test_choosing_rapid_review_in_the_modal_asks_for_the_grounds(steps: Steps) -> None:
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "Audit & assurance")
    assert "abuse_nature" not in input_blocks(view)
    before = len(steps.api.calls_to("views.update"))  # the referral's outcome was one
    answer = await steps.slack.choose(POLICE, view, "pathway", "rapid_review")
    assert answer.status == 200
    [update] = (await steps.api.wait_for("views.update", before + 1))[before:]
    assert update.status == 200 and update.body["view_id"] == view["id"] and update.body["hash"] == view["hash"]
    updated = steps.api.views[view["id"]]
    assert {"abuse_nature", "harm_basis"} <= set(input_blocks(updated))
    assert input_blocks(updated)["pathway"]["element"]["initial_option"]["value"] == "rapid_review"
    answer = await steps.slack.submit(POLICE, updated, {"notifiable": "yes", "rationale": RATIONALE} | RR_GROUNDS)
    assert answer.body["response_action"] == "update"
    [vote] = await votes(steps)
    assert (vote.pathway, vote.abuse_nature) == ("rapid_review", RR_GROUNDS["abuse_nature"])


async def test_change_vote_updates_the_same_dm_again(steps: Steps) -> None:
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    await steps.vote(POLICE, ref, "No further action", message=request)
    await steps.drain()
    recorded = copy.deepcopy(steps.api.messages[(request["channel"], request["ts"])])
    assert list(buttons(recorded)) == ["Change vote"]

    view = await steps.open_modal(POLICE, recorded, "Change vote")
    assert input_blocks(view)["pathway"]["element"].get("initial_option") is None
    answer = await steps.slack.submit(
        POLICE, view, {"pathway": "audit_assurance", "notifiable": "no", "rationale": RATIONALE}
    )
    assert "Greater Manchester Police's vote is changed" in json.dumps(answer.modal)
    [vote] = await votes(steps)
    assert (vote.pathway, vote.version) == ("audit_assurance", 2)
    await steps.drain()
    assert [c.body["ts"] for c in steps.api.ok_calls("chat.update")] == [request["ts"], request["ts"]]
    assert "Audit &amp; assurance" in json.dumps(steps.api.messages[(request["channel"], request["ts"])]["blocks"])


async def test_a_click_is_acknowledged_before_the_modal_is_opened(steps: Steps) -> None:
    """ack() first: Slack gets its answer at once even when views.open is slow."""
    ref = await steps.register()
    steps.api.fail("views.open", delay=1.0)
    started = time.monotonic()
    answer = await steps.slack.click(POLICE, steps.vote_request(POLICE, ref), "Rapid Review", settle=False)
    assert answer.status == 200 and time.monotonic() - started < 0.5
    assert len(steps.api.calls_to("views.open")) == 1  # only the referral modal so far
    [_, opened] = await steps.api.wait_for("views.open", 2)
    assert opened.status == 200 and opened.body["view"]["callback_id"] == "panelbot-form"
