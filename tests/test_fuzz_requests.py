"""Property-based: whatever a client sends to `/slack/events` (validly signed) or `/api/messages`, the
server never answers 5xx and changes nothing. Each example starts from a real request that would be
refused for its content (a rationale too short, a summary too short), taken from what the bot sent,
then deletes keys or replaces values with arbitrary JSON, so the fuzz reaches every listener's
parsing and the interaction table behind it. Hypothesis runs in a worker thread; each example is
posted on the test's event loop through the real aiohttp server."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.config import AppConfig
from bot.service import Service
from storage.migrate import upgrade
from storage.models import AuditEvent, Case, ConversationRef, Decision, OutboxMessage, Reminder, Vote
from tests.fakes.slack_steps import BM, POLICE, Steps
from tests.fakes.teams_connector import TeamsUser
from tests.fakes.teams_env import LA_DSP, TeamsWorld, start_world, stop_world, teams_settings

pytest_plugins = ("tests.fakes.slack_fixtures",)

EXAMPLES = 100
TOO_SHORT = "too short"  # under the 20-character minimum: the base requests are refused for it
FORM = "application/x-www-form-urlencoded"

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
# private_metadata and similar JSON-in-a-string fields get JSON-shaped strings too, and oversized ones
JSON_TEXT = JSON_VALUES.map(json.dumps) | st.sampled_from(["", "{", "x" * 5000, json.dumps({"form": "vote"})])


def paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into a JSON document, the root's children first."""
    out: list[tuple] = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, value in items:
        out.append((*prefix, key))
        out.extend(paths(value, (*prefix, key)))
    return out


def mutate(doc: Any, path: tuple, op: str, value: Any) -> Any:
    doc = copy.deepcopy(doc)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "delete":
        del parent[last]
    else:
        parent[last] = value
    return doc


def mutations(base: Any) -> st.SearchStrategy[Any]:
    """One to three deletions or replacements anywhere in the document."""
    where = paths(base)

    @st.composite
    def build(draw: Callable[..., Any]) -> Any:
        doc = base
        for _ in range(draw(st.integers(1, 3))):
            here = paths(doc) or where
            if not here:
                break
            path = draw(st.sampled_from(here))
            op = draw(st.sampled_from(["delete", "replace", "replace"]))
            value = draw(JSON_TEXT if path[-1] in ("private_metadata", "value", "text") else JSON_VALUES)
            doc = mutate(doc, path, op, value)
        return doc

    return build()


async def snapshot(service: Service) -> dict[str, int]:
    """What a request could have changed. Refusals are audited by design, so they are left out."""

    async def read(uow: Any) -> dict[str, int]:
        counts = {}
        for model in (Case, Vote, Decision, OutboxMessage, Reminder, ConversationRef):
            counts[model.__name__] = await uow.session.scalar(select(func.count()).select_from(model))
        audited = select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "refused")
        counts["AuditEvent"] = await uow.session.scalar(audited)
        return counts

    return await service.read(read)


def run_in_thread(loop: asyncio.AbstractEventLoop, check: Callable[[Any], Any]) -> Callable[[Any], None]:
    """Hypothesis drives a plain function; each example is awaited on the test's loop."""

    def one(example: Any) -> None:
        asyncio.run_coroutine_threadsafe(check(example), loop).result(timeout=60)

    return one


FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
)


# ---------------------------------------------------------------- Slack


async def slack_bases(steps: Steps) -> list[tuple[str, Any]]:
    """Real requests, as Slack would send them, refused for their content alone."""
    ref = await steps.register()
    request = steps.vote_request(POLICE, ref)
    view = await steps.open_modal(POLICE, request, "No further action")
    vote = steps.slack.submit_payload(POLICE, view, {"notifiable": "no", "rationale": TOO_SHORT})
    await steps.slack.command(BM, "new")
    referral_view = steps.api.last_view()
    referral = steps.slack.submit_payload(
        BM, referral_view, {"referrer_name": "Dr A", "referrer_email": "a@example.org", "panel_summary": TOO_SHORT}
    )
    rr_view = await steps.open_modal(POLICE, request, "Rapid Review")
    click = steps.slack.click_payload(POLICE, request, "Rapid Review")
    home = {"type": "app_home_opened", "user": POLICE, "tab": "home", "channel": steps.api.dm_channel(POLICE)}
    command = {"user_id": BM, "command": "/panel", "text": f"show {ref}", "team_id": "T0TEST001", "trigger_id": "1.2"}
    return [
        ("vote", vote),
        ("referral", referral),
        ("click", click),
        ("choice", {"rr_view": rr_view}),
        ("event", json.loads(steps.slack.event_body(home))),
        ("command", command),
    ]


def slack_body(kind: str, doc: Any) -> tuple[str, str]:
    if kind == "event":
        return json.dumps(doc), "application/json"
    if kind == "command":
        fields = doc if isinstance(doc, dict) else {"text": json.dumps(doc)}
        return urlencode({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}), FORM
    return urlencode({"payload": json.dumps(doc)}), FORM


async def test_fuzzed_signed_slack_requests_never_get_5xx_nor_change_state(steps: Steps) -> None:
    bases = await slack_bases(steps)
    bases = [(k, v) for k, v in bases if k != "choice"]
    await steps.drain()
    before = await snapshot(steps.service)
    answers: list[int] = []

    async def check(example: tuple[str, Any]) -> None:
        kind, doc = example
        body, content_type = slack_body(kind, doc)
        answer = await steps.slack.post(body, content_type)
        answers.append(answer.status)
        assert answer.status < 500, (kind, doc, answer)

    strategy = st.one_of(*[st.tuples(st.just(kind), mutations(base)) for kind, base in bases])
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(FUZZ(given(strategy)(run_in_thread(loop, check))))
    await steps.drain()
    assert await snapshot(steps.service) == before
    assert len(answers) >= EXAMPLES // 2


# ---------------------------------------------------------------- Teams


@pytest.fixture
async def teams(cfg: AppConfig, clock: Any, db_url: str) -> AsyncIterator[TeamsWorld]:
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    world = await start_world(service, teams_settings())
    try:
        yield world
    finally:
        await stop_world(world)
        await service.close()


async def teams_bases(w: TeamsWorld, la: TeamsUser) -> list[dict[str, Any]]:
    from tests.test_teams_bot import refer  # the Teams tests' own referral step

    assert await la.install() == 202
    await refer(w.service)
    await w.drain()
    [card] = [c.card for c in w.connector.cards_to(la) if c.card is not None][-1:]
    from tests.fakes.teams_connector import find_execute

    action = find_execute(card, "vote")
    data = {**(action.get("data") or {}), "pathway": "no_further_action", "notifiable": "no", "rationale": TOO_SHORT}
    value = {"action": {"type": "Action.Execute", "verb": "vote", "data": data}, "trigger": "manual"}
    return [
        la.activity("invoke", name="adaptiveCard/action", value=value),
        la.activity("message", text="hello"),
        la.activity("installationUpdate", action="add"),
    ]


async def test_fuzzed_teams_activities_never_get_5xx_nor_change_state(teams: TeamsWorld) -> None:
    la = teams.user(LA_DSP, "LA DSP")
    bases = await teams_bases(teams, la)
    before = await snapshot(teams.service)
    answers: list[int] = []

    async def check(doc: Any) -> None:
        response = await teams.client.post("/api/messages", data=json.dumps(doc).encode(), headers=la.headers)
        await response.read()
        answers.append(response.status)
        assert response.status < 500, (doc, response.status)

    strategy = st.one_of(*[mutations(base) for base in bases]) | JSON_VALUES
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(FUZZ(given(strategy)(run_in_thread(loop, check))))
    await teams.drain()
    assert await snapshot(teams.service) == before
    assert len(answers) >= EXAMPLES // 2
