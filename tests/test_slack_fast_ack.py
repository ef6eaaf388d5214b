"""A modal's submission is answered before its flow runs: Slack's 3 seconds never wait on the database.

Through the real server and Bolt with signed requests: the vote's flow is held until the test
releases it, and the HTTP answer must already be out by then.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from bot import forms, interactions
from storage.models import Vote
from tests.fakes.slack_steps import POLICE, RATIONALE, Steps
from tests.fakes.slack_workspace import settle_listeners

pytest_plugins = ("tests.fakes.slack_fixtures",)


@pytest.fixture
def held_vote(monkeypatch: pytest.MonkeyPatch) -> tuple[asyncio.Event, asyncio.Event]:
    """The vote flow, made to wait for `release` once it has started (`started`)."""
    started, release = asyncio.Event(), asyncio.Event()
    real = interactions.SUBMISSIONS[forms.VOTE.name]

    async def held(cmd: Any, uow: Any, env: Any) -> Any:
        started.set()
        await release.wait()
        return await real.flow(cmd, uow, env)

    monkeypatch.setitem(
        interactions.SUBMISSIONS, forms.VOTE.name, interactions.Interaction(real.build, held, real.describe)
    )
    return started, release


async def test_a_held_flow_does_not_hold_slacks_answer(
    steps: Steps, held_vote: tuple[asyncio.Event, asyncio.Event]
) -> None:
    started, release = held_vote
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "No further action")
    before = len(steps.api.calls_to("views.update"))

    answer = await asyncio.wait_for(
        steps.slack.submit(POLICE, view, {"notifiable": "no", "rationale": RATIONALE}, settle=False), timeout=10
    )
    assert answer.status == 200 and answer.body["response_action"] == "update"
    assert "Recording" in json.dumps(answer.body["view"])
    await asyncio.wait_for(started.wait(), timeout=5)  # the flow is running, and holding
    assert await steps.count(Vote) == 0
    assert len(steps.api.calls_to("views.update")) == before

    release.set()
    await settle_listeners()
    [outcome] = steps.api.calls_to("views.update")[before:]
    assert outcome.body["view_id"] == view["id"]
    assert "Greater Manchester Police's vote is recorded" in json.dumps(outcome.body["view"])
    assert await steps.count(Vote) == 1


async def test_field_errors_come_back_inline_before_any_flow_runs(
    steps: Steps, held_vote: tuple[asyncio.Event, asyncio.Event]
) -> None:
    started, _ = held_vote
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "No further action")
    answer = await steps.slack.submit(POLICE, view, {"notifiable": "no", "rationale": "too short"}, settle=False)
    assert answer.body["response_action"] == "errors" and "rationale" in answer.body["errors"]
    assert not started.is_set()


async def test_a_closed_modal_gets_the_outcome_by_dm(steps: Steps) -> None:
    ref = await steps.register()
    view = await steps.open_modal(POLICE, steps.vote_request(POLICE, ref), "No further action")
    steps.api.fail("views.update", error="not_found")  # the voter closed the modal meanwhile
    answer = await steps.slack.submit(POLICE, view, {"notifiable": "no", "rationale": RATIONALE})
    assert "Recording" in json.dumps(answer.modal)
    told = [c for c in steps.api.calls_to("chat.postMessage") if c.body.get("channel") == POLICE]
    assert "Greater Manchester Police's vote is recorded" in told[-1].body["text"]
    assert await steps.count(Vote) == 1
