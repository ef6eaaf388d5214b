"""A whole screening in Slack, through the real server, Bolt, the flows, the outbox and the Slack
sender, against the fake Web API; and `panelbot case show --json` agreeing with what Slack saw."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import yaml
from sqlalchemy import select

from storage.models import Case
from tests.fakes.slack_steps import (
    BM,
    CHAIR,
    HEALTH,
    LA,
    NOTIFIER,
    POLICE,
    RR_GROUNDS,
    SCRUTINEER,
    Steps,
)
from tests.fakes.slack_workspace import buttons, input_blocks

pytest_plugins = ("tests.fakes.slack_fixtures",)

VOTE_LABELS = ["Rapid Review", "Audit & assurance", "No further action", "Queries to referrer"]


def labels(message: dict[str, Any]) -> list[str]:
    return list(buttons(message))


def text_of(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks"))


async def case_show_json(ref: str, cfg_data: dict[str, Any], db_url: str, tmp_path: Any) -> dict[str, Any]:
    """`panelbot case show REF --json`, run as a separate process against the same database."""
    cfg_file = tmp_path / "app.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg_data), encoding="utf-8")
    env = os.environ | {"PANELBOT_DATABASE_URL": db_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "case", "show", ref, "--json", "--config", str(cfg_file),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_full_screening_in_slack(steps: Steps, slack_cfg_data, db_url, tmp_path) -> None:
    api = steps.api
    ref = await steps.register()
    assert ref == "TSCP-2026-001"

    # Three DMs with the four buttons, labelled exactly; the Business Manager hears the panel is convened.
    requests = {user: steps.vote_request(user, ref) for user in (LA, POLICE, HEALTH)}
    for request in requests.values():
        assert labels(request) == VOTE_LABELS
        assert "Screening decision due" in text_of(request) and "Received" in text_of(request)
        assert "unexplained injuries" in text_of(request)  # the panel summary
    assert api.last_dm(BM, "screening panel convened")

    # Police clicks Rapid Review: the modal opens with the pathway chosen and asks for the grounds.
    request = steps.vote_request(POLICE, ref)
    view = await steps.open_modal(POLICE, request, "Rapid Review")
    fields = input_blocks(view)
    assert fields["pathway"]["element"]["initial_option"]["value"] == "rapid_review"
    assert {"notifiable", "rationale", "abuse_nature", "harm_basis"} <= set(fields)
    rationale = fields["rationale"]["element"]
    assert (rationale["multiline"], rationale["min_length"], rationale["max_length"]) == (True, 20, 3000)
    answer = await steps.slack.submit(POLICE, view, {"notifiable": "yes", "rationale": "x" * 30} | RR_GROUNDS)
    assert answer.body["response_action"] == "update"
    assert "Greater Manchester Police's vote is recorded" in json.dumps(answer.modal)

    # The vote request is updated in place: the recorded vote, and a button to change it.
    await steps.drain()
    updated = api.messages[(request["channel"], request["ts"])]
    assert "vote is recorded" in updated["text"] and labels(updated) == ["Change vote"]
    assert [c.body["ts"] for c in api.ok_calls("chat.update")] == [request["ts"]]

    # LA agrees: majority, decided. Every vote request turns into "voting has closed", without buttons.
    await steps.vote(LA, ref, "Rapid Review", notifiable="yes", **RR_GROUNDS)
    await steps.drain()
    for user, request in requests.items():
        closed = api.messages[(request["channel"], request["ts"])]  # the request itself, updated in place
        assert "voting has closed" in closed["text"] and labels(closed) == [], closed
        assert "Rapid Review" in text_of(api.last_dm(user, "has decided"))
    assert api.last_dm(BM, "has decided")
    assert api.last_dm(CHAIR, "has decided")
    scrutiny = api.last_dm(SCRUTINEER, "has decided")
    assert labels(scrutiny) == ["Concur", "Disagree"]
    notify = api.last_dm(NOTIFIER, "notify the National Panel")
    assert labels(notify) == ["Notification sent"]

    # The scrutineer concurs; the LA notifier records the notification. Each is told, ephemerally.
    await steps.slack.click(SCRUTINEER, scrutiny, "Concur")
    await steps.slack.click(NOTIFIER, notify, "Notification sent")
    await api.wait_for("chat.postEphemeral", 2)
    told = {e["user"]: e["text"] for e in api.ephemerals}
    assert "You concur" in told[SCRUTINEER]
    assert "notification recorded" in told[NOTIFIER]
    await steps.drain()
    assert api.last_dm(BM, "National Panel notified")

    # Nothing identifying went to Slack: the referrer's name and e-mail stayed in the case store.
    everything = json.dumps([c.body for c in api.calls])
    assert "Dr A Referrer" not in everything and "referrer@example.org" not in everything

    # Every Slack row was sent exactly once; e-mail rows wait for their own sender.
    rows = await steps.outbox(channel="slack")
    assert rows and all(r.state == "sent" and r.attempts == 1 for r in rows)

    # `panelbot case show --json` tells the same story.
    shown = await case_show_json(ref, slack_cfg_data, db_url, tmp_path)
    case = await steps.service.read(lambda uow: uow.session.scalar(select(Case).where(Case.ref == ref)))
    assert shown["status"] == case.status
    assert (shown["pathway"], shown["notifiable"], shown["method"]) == ("rapid_review", True, "majority")
    assert sorted((v["voter"], v["pathway"]) for v in shown["votes"]) == [
        ("la-dsp", "rapid_review"),
        ("police-dsp", "rapid_review"),
    ]
    assert [(s["by"], s["verdict"]) for s in shown["scrutiny"]] == [("scrutineer", "concur")]
    assert shown["notified"] is not None
    sent = [m for m in shown["messages"] if m["channel"] == "slack"]
    assert all(m["state"] == "sent" for m in sent)
