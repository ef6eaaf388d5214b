"""Who may talk to panelbot through Slack: signatures, timestamps, strangers and the roster's say."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from storage.models import AuditEvent, Case, OutboxMessage, Vote
from tests.fakes.slack_steps import BM, LA, NOTIFIER, POLICE, POLICE_LEAD, RATIONALE, STRANGER, Steps
from tests.fakes.slack_workspace import SIGNING_SECRET

pytest_plugins = ("tests.fakes.slack_fixtures",)


async def snapshot(steps: Steps) -> dict[str, int]:
    return {m.__name__: await steps.count(m) for m in (Case, Vote, AuditEvent, OutboxMessage)}


async def refusals(steps: Steps) -> list[AuditEvent]:
    async def read(uow: Any) -> list[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.action == "refused").order_by(AuditEvent.id)
        return list(await uow.session.scalars(query))

    return await steps.service.read(read)


FORM = "application/x-www-form-urlencoded"
TAMPERING: dict[str, dict[str, Any]] = {
    "forged signature": {"signature": "v0=" + "0" * 64},
    "no signature": {"signature": ""},
    "stale timestamp": {"timestamp": -6 * 60},  # signed correctly, but older than 5 minutes
    "another secret": {"secret": "not-the-apps-secret"},
}


async def test_bad_signatures_and_stale_timestamps_get_401_and_change_nothing(steps: Steps) -> None:
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    view = await steps.open_modal(POLICE, request, "No further action")  # the control: signed properly, it works
    before, calls_before = await snapshot(steps), len(steps.api.calls)
    home = {"type": "app_home_opened", "user": POLICE, "tab": "home"}
    requests = {
        "click": (steps.slack.form_body(steps.slack.click_payload(POLICE, request, "Rapid Review")), FORM),
        "vote": (steps.slack.form_body(steps.slack.submit_payload(POLICE, view, {"notifiable": "no"})), FORM),
        "command": (steps.slack.command_body(BM, "new"), FORM),
        "event": (steps.slack.event_body(home), "application/json"),
    }
    for tamper, how in TAMPERING.items():
        steps.slack.secret = how.get("secret", SIGNING_SECRET)
        kwargs = {k: v for k, v in how.items() if k == "signature"}
        if "timestamp" in how:
            kwargs["timestamp"] = int(time.time()) + how["timestamp"]
        for what, (body, content_type) in requests.items():
            answer = await steps.slack.post(body, content_type, **kwargs)
            assert answer.status == 401, (tamper, what)
    assert await snapshot(steps) == before
    assert len(steps.api.calls) == calls_before  # not a single Web API call


async def test_unknown_user_is_refused_ephemerally_and_audited(steps: Steps) -> None:
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    before = await snapshot(steps)

    # A click: an ephemeral refusal where they clicked, no modal.
    answer = await steps.slack.click(STRANGER, request, "Rapid Review")
    assert answer.status == 200
    await steps.api.wait_for("chat.postEphemeral")
    refusal = steps.api.ephemerals[-1]
    assert refusal["user"] == STRANGER and refusal["channel"] == request["channel"]
    assert "not on this partnership's panel roster" in refusal["text"]
    assert len(steps.api.calls_to("views.open")) == 1  # only the referral modal

    # A modal submission (a view obtained some other way): refused in place of the modal.
    view = await steps.open_modal(POLICE, request, "Rapid Review")
    answer = await steps.slack.submit(STRANGER, view, {"notifiable": "no", "rationale": RATIONALE})
    assert answer.body["response_action"] == "update"
    assert "not on this partnership's panel roster" in json.dumps(answer.modal)

    # /panel: refused in the command's ephemeral answer.
    answer = await steps.slack.command(STRANGER, f"show {ref}")
    assert answer.status == 200 and "not on this partnership's panel roster" in answer.body["text"]
    assert answer.body.get("response_type", "ephemeral") == "ephemeral"
    assert ref not in json.dumps(answer.body)

    after = await snapshot(steps)
    assert after["Vote"] == before["Vote"] == 0 and after["OutboxMessage"] == before["OutboxMessage"]
    audited = [e for e in await refusals(steps) if e.actor == f"slack:{STRANGER}"]
    assert [e.details["command"] for e in audited] == [
        "slack button panel-vote",
        "slack form vote",
        "slack /panel show",
    ]


async def test_roster_member_without_the_authority_is_refused_and_audited(steps: Steps) -> None:
    """Wrong agency or role: the police agency lead cannot cast the police vote; the police panel
    member cannot record the LA's National Panel notification; only the Business Manager registers."""
    ref = await steps.register()
    view = await steps.open_modal(POLICE_LEAD, steps.vote_request(POLICE, ref), "Audit & assurance")
    answer = await steps.slack.submit(POLICE_LEAD, view, {"notifiable": "no", "rationale": RATIONALE})
    assert answer.body["response_action"] == "update"
    assert "Only an agency's panel member or deputy can vote" in json.dumps(answer.modal)
    assert await steps.count(Vote) == 0

    # A notifiable decision, so the LA notifier gets the Notification sent button; police presses it.
    await steps.vote(POLICE, ref, "Audit & assurance", notifiable="yes")
    await steps.vote(LA, ref, "Audit & assurance", notifiable="yes")
    await steps.drain()
    notify = steps.api.last_dm(NOTIFIER, "notify the National Panel")
    await steps.slack.click(POLICE, notify, "Notification sent")
    await steps.api.wait_for("chat.postEphemeral")
    assert "Only the la notifier or business manager can do this" in steps.api.ephemerals[-1]["text"]

    answer = await steps.slack.command(POLICE, "new")
    assert "Only the Business Manager can register a referral" in answer.body["text"]

    audited = {(e.actor, e.details["command"]) for e in await refusals(steps)}
    assert audited == {
        ("police-lead", "CastVote"),
        ("police-dsp", "RecordNotificationSent"),
        ("police-dsp", "slack /panel new"),
    }
    case = await steps.service.read(lambda uow: uow.session.scalar(select(Case)))
    assert case.notified_at is None


async def test_business_manager_new_opens_the_referral_modal(steps: Steps) -> None:
    answer = await steps.slack.command(BM, "new")
    assert answer.status == 200
    await steps.api.wait_for("views.open")
    view = steps.api.last_view()
    assert {"referrer_name", "panel_summary", "received_at"} <= set(
        b["block_id"] for b in view["blocks"] if b["type"] == "input"
    )
    # The referral modal asks for nothing about the child: that goes in the case store by other means.
    assert "child" not in json.dumps(view).lower()


async def test_url_verification_challenge_is_answered_when_signed(steps: Steps) -> None:
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    answer = await steps.slack.post(body, "application/json")
    assert answer.status == 200 and answer.body == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    forged = await steps.slack.post(body, "application/json", signature="v0=" + "1" * 64)
    assert forged.status == 401
