"""JSON logs (`PANELBOT_LOG_FORMAT=json`): every line a JSON object with time, level, event, and the case
reference, request id and actor when known; no line carries a child's details, a rationale or a secret.

A full demo and a Slack screening through the real server are logged, and the log is grepped for every
Part A value and every secret they were given."""

from __future__ import annotations

import copy
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from bot import logs
from bot.config import AppConfig
from bot.simulate import load_scenario, simulate
from tests.fakes.slack_api import APP_TOKEN, TOKEN
from tests.fakes.slack_steps import HEALTH, LA, POLICE, RATIONALE, RR_GROUNDS, Steps
from tests.fakes.slack_workspace import SIGNING_SECRET

pytest_plugins = ("tests.fakes.slack_fixtures",)

PART_A = {
    "child": {
        "forenames": "Zebedee-Orlando",
        "last_name": "Quixotically",
        "other_names": "Zeb Q-Alias",
        "date_of_birth": "2021-07-13",
        "home_address": "17 Hidden Orchard Way, Nowhereton",
        "carers": "Mother Wilhelmina Quixotically",
        "ethnicity": "Recorded-Ethnicity-Value",
        "disability": "Recorded-Disability-Value",
    },
    "referrer": {
        "name": "Dr R. Example",
        "role": "Named GP for safeguarding",
        "agency": "NHS",
        "email": "referrer@example.org",
        "phone": "0161 496 0999",
    },
    "event_description": "Admitted with a skull fracture after a fall from a trampoline-xyzzy.",
    "abuse_detail": "Bruising pattern consistent with gripping-plugh.",
    "agency_work": "Early help since 2024, health visitor concerns-frobnitz.",
    "review_reason": "Possible missed opportunities-quux.",
    "additional_info": "Sibling on a child protection plan-wibble.",
}


def part_a_values() -> list[str]:
    values = [v for v in PART_A["child"].values()]
    values += [PART_A["referrer"]["email"], PART_A["referrer"]["phone"]]
    values += [PART_A[k] for k in ("event_description", "abuse_detail", "agency_work", "review_reason")]
    values.append(PART_A["additional_info"])
    return values


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The root logger as `serve` configures it with PANELBOT_LOG_FORMAT=json, at DEBUG (the most that
    could ever be logged), into a buffer."""
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    ours = [logging.getLogger(name) for name in list(logging.Logger.manager.loggerDict) if name.startswith("panelbot")]
    levels = [logger.level for logger in ours]
    for logger in ours:
        logger.setLevel(logging.NOTSET)  # as serve has them: a library (Bolt) may have copied a test's root level
    logs.configure("json", logging.DEBUG, stream=buffer)
    yield buffer
    for logger, was in zip(ours, levels, strict=True):
        logger.setLevel(was)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def demo_with_part_a(cfg: AppConfig) -> tuple[AppConfig, list[dict[str, Any]], list[str]]:
    from bot.cli import DEMO_SCENARIO

    cfg, steps = load_scenario(DEMO_SCENARIO, cfg)
    steps = copy.deepcopy(steps)
    steps[0]["referral"].update(copy.deepcopy(PART_A))
    rationales = []
    for step in steps:
        for kind in ("vote", "scrutiny"):
            data = step.get(kind) or {}
            rationales += [data[k] for k in ("rationale", "abuse_nature", "harm_basis", "comment") if data.get(k)]
    return cfg, steps, rationales


async def test_a_full_demo_logs_json_without_child_details_or_rationales(cfg: AppConfig, json_log: io.StringIO) -> None:
    cfg, steps, rationales = demo_with_part_a(cfg)
    result = await simulate(cfg, steps)
    assert result["cases"][0]["status"] == "decided"
    text = json_log.getvalue()
    entries = lines(json_log)
    assert entries, "the demo logged nothing"
    for entry in entries:
        assert {"time", "level", "event", "logger", "message"} <= set(entry)
    votes = [e for e in entries if e["event"] == "command.done" and e.get("command") == "CastVote"]
    voters = {(e["case"], e["actor"]) for e in votes}
    assert voters >= {("TSCP-2026-001", "police-dsp"), ("TSCP-2026-001", "health-dsp")}
    registered = next(e for e in entries if e.get("command") == "RegisterReferral")
    assert (registered["case"], registered["actor"]) == ("TSCP-2026-001", "bm")
    refused = next(e for e in entries if e["event"] == "command.refused")
    assert (refused["case"], refused["actor"], refused["level"]) == ("TSCP-2026-001", "alex.nobody", "warning")
    assert any(e["event"] == "outbox.send" for e in entries) is False  # simulate's sender is not timed
    for value in part_a_values() + rationales:
        assert value not in text, f"the log shows {value!r}"


async def test_slack_requests_log_request_id_case_and_actor_but_no_secret(steps: Steps, json_log: io.StringIO) -> None:
    ref = await steps.register()
    await steps.vote(LA, ref, "Rapid Review", notifiable="yes", **RR_GROUNDS)
    await steps.vote(POLICE, ref, "Rapid Review", notifiable="yes", **RR_GROUNDS)
    await steps.drain()
    entries = lines(json_log)
    requests = [e for e in entries if e["event"] == "http.request" and e["path"] == "/slack/events"]
    assert requests and all(e.get("request_id") and e["status"] == 200 for e in requests)
    vote = next(e for e in entries if e.get("command") == "CastVote" and e["actor"] == "la-dsp")
    assert vote["case"] == ref
    assert vote["request_id"] in {e["request_id"] for e in requests}  # the vote's line names its request
    text = json_log.getvalue()
    for secret in (TOKEN, SIGNING_SECRET, APP_TOKEN, RATIONALE, *RR_GROUNDS.values()):
        leaks = [f"{e['logger']}: {e['event'][:300]}" for e in entries if secret in json.dumps(e, ensure_ascii=False)]
        assert secret not in text, f"the log shows {secret!r}: {leaks}"
    assert HEALTH not in {e.get("actor") for e in entries}


def test_library_chatter_is_dropped_and_panelbot_debug_kept(json_log: io.StringIO) -> None:
    logging.getLogger("aiosqlite").debug("executing INSERT … ('Zebedee',)")
    logging.getLogger("slack_sdk.web.async_base_client").debug("Sending a request - json: {rationale}")
    logging.getLogger("apscheduler.executors.default").info('Running job "Ticker.safe_tick"')
    logging.getLogger("aiosqlite").warning("database is locked")
    logging.getLogger("panelbot.delivery").debug("claimed 3 rows")
    assert [(e["logger"], e["level"]) for e in lines(json_log)] == [
        ("aiosqlite", "warning"),
        ("panelbot.delivery", "debug"),
    ]
