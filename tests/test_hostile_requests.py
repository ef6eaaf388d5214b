"""Requests no client should send, each answered 400 or 401 (or politely), never 500, and changing
nothing: unreadable Slack timestamps, unsigned Teams tokens, validly signed but malformed payloads."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from sqlalchemy import select

from bot.config import AppConfig
from bot.service import Service
from storage.migrate import upgrade
from storage.models import ConversationRef, Vote
from tests.fakes.slack_steps import POLICE, RATIONALE, Steps
from tests.fakes.slack_workspace import SIGNING_SECRET
from tests.fakes.teams_connector import TENANT
from tests.fakes.teams_env import LA_DSP, TeamsWorld, start_world, stop_world, teams_settings
from tests.test_fuzz_requests import snapshot

pytest_plugins = ("tests.fakes.slack_fixtures",)
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("timestamp", ["notanumber", "", " ", "1e9", "-5", "١٢٣"])
async def test_unreadable_slack_timestamp_is_401(steps: Steps, timestamp: str) -> None:
    body = steps.slack.command_body(POLICE, "list")
    headers = steps.slack.headers(body, FORM) | {"X-Slack-Request-Timestamp": timestamp}
    resp = await steps.slack.client.post("/slack/events", data=body.encode(), headers=headers)
    assert resp.status == 401


async def test_non_utf8_and_non_object_bodies_are_400(steps: Steps) -> None:
    raw = b"payload=\xff\xfe"
    ts = str(int(time.time()))

    from slack_sdk.signature import SignatureVerifier

    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": FORM}
    resp = await steps.slack.client.post("/slack/events", data=raw, headers=headers)
    assert resp.status == 400
    assert SignatureVerifier  # the body above is signed exactly as Slack signs, just not UTF-8
    for body in ("payload=%5B1%2C2%5D", "payload=not-json", "[1,2]"):
        answer = await steps.slack.post(body, FORM if body.startswith("payload") else "application/json")
        assert answer.status == 400, body


async def vote_view(steps: Steps) -> tuple[str, dict[str, Any], dict[str, Any]]:
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    view = await steps.open_modal(POLICE, request, "No further action")
    return ref, request, view


def with_metadata(view: dict[str, Any], metadata: Any) -> dict[str, Any]:
    return dict(view) | {"private_metadata": metadata if isinstance(metadata, str) else json.dumps(metadata)}


async def test_malformed_view_submissions_are_400_and_change_nothing(steps: Steps) -> None:
    _, _, view = await vote_view(steps)
    before = await snapshot(steps.service)
    values = {"notifiable": "no", "rationale": RATIONALE}
    context = json.loads(view["private_metadata"])
    bad = {
        "not json": "{",
        "oversized": json.dumps(context | {"hidden": {"key": "x" * 4000}}),
        "a list": [1, 2],
        "form missing": {"ref": context["ref"]},
        "hidden not text": context | {"hidden": {"key": {"nested": 1}}},
    }
    for what, metadata in bad.items():
        answer = await steps.slack.submit(POLICE, with_metadata(view, metadata), values)
        assert answer.status == 400, what
    payload = steps.slack.submit_payload(POLICE, view, values)
    del payload["user"]
    assert (await steps.slack.interaction(payload)).status == 400
    assert await snapshot(steps.service) == before


async def test_unknown_form_gets_a_polite_answer(steps: Steps) -> None:
    _, _, view = await vote_view(steps)
    context = json.loads(view["private_metadata"])
    answer = await steps.slack.submit(POLICE, with_metadata(view, context | {"form": "nuke"}), {"notifiable": "no"})
    assert answer.status == 200 and answer.body["response_action"] == "update"
    assert "cannot be sent" in json.dumps(answer.body["view"])


async def test_a_by_smuggled_into_hidden_values_is_ignored(steps: Steps) -> None:
    """The voter is who signed in, never a `by` (or `ref`) carried in the modal's metadata."""
    _, _, view = await vote_view(steps)
    context = json.loads(view["private_metadata"])
    context["hidden"] = {"by": "la-dsp", "ref": "TSCP-1999-999", "agency": "la"}
    values = {"notifiable": "no", "rationale": RATIONALE}
    answer = await steps.slack.submit(POLICE, with_metadata(view, context), values)
    assert answer.status == 200 and answer.body["response_action"] == "update"
    votes = await steps.service.read(lambda uow: uow.session.scalars(select(Vote)))
    assert [(v.person_id, v.agency) for v in votes] == [("police-dsp", "police")]


async def test_malformed_click_is_400(steps: Steps) -> None:
    _, request, _ = await vote_view(steps)
    before = await snapshot(steps.service)
    payload = steps.slack.click_payload(POLICE, request, "Rapid Review")
    payload["actions"][0]["value"] = "x" * 5000
    assert (await steps.slack.interaction(payload)).status == 400
    payload = steps.slack.click_payload(POLICE, request, "Rapid Review")
    payload["user"] = {"name": "no id"}
    assert (await steps.slack.interaction(payload)).status == 400
    payload["actions"] = []
    assert (await steps.slack.interaction(payload)).status == 400
    assert await snapshot(steps.service) == before


# ---------------------------------------------------------------- Teams with authentication on


@pytest.fixture
async def secured(cfg: AppConfig, clock: Any, db_url: str) -> AsyncIterator[TeamsWorld]:
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    settings = teams_settings(
        ANONYMOUS_ALLOWED=False,
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID="00000000-0000-4000-8000-00000000b07",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET="not-a-real-secret",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID=TENANT,
    )
    world = await start_world(service, settings)
    try:
        yield world
    finally:
        await stop_world(world)
        await service.close()


def unsigned(alg: str, **header: Any) -> str:
    claims = {"aud": "00000000-0000-4000-8000-00000000b07", "iss": "https://api.botframework.com", "exp": 4102444800}
    if alg == "none":
        return jwt.encode(claims, None, algorithm="none", headers=header or None)
    return jwt.encode(claims, "a-shared-secret-long-enough-for-hs256", algorithm=alg, headers=header or None)


@pytest.mark.parametrize(
    "token",
    [
        unsigned("none"),
        unsigned("HS256"),
        unsigned("HS256", kid="some-key"),
        unsigned("none", kid="some-key"),
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",  # RS256 but no kid
        "%%%.%%%.%%%",
    ],
)
async def test_teams_tokens_that_are_not_rs256_with_a_key_id_get_401(secured: TeamsWorld, token: str) -> None:
    la = secured.user(LA_DSP)
    la.headers["Authorization"] = f"Bearer {token}"
    status, _ = await la.post(la.activity("message", text="hello"))
    assert status == 401
    assert secured.connector.calls == []
    assert await secured.service.read(lambda uow: uow.session.scalar(select(ConversationRef))) is None


async def test_teams_malformed_bodies_are_400(cfg: AppConfig, clock: Any, db_url: str) -> None:
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    world = await start_world(service, teams_settings())
    try:
        la = world.user(LA_DSP)
        for body in (b"not json", b"[]", b'{"type": 5}', json.dumps(la.activity("invoke", name="task/fetch")).encode()):
            resp = await world.client.post("/api/messages", data=body)
            assert resp.status == 400, body
        no_conversation = la.activity("message", text="hi")
        del no_conversation["conversation"]
        resp = await world.client.post("/api/messages", json=no_conversation)
        assert resp.status == 400
    finally:
        await stop_world(world)
        await service.close()
