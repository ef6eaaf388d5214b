"""The Slack tests' world: a roster whose panel works in Slack, and the steps people take there
(register a referral, open a modal, vote) through the real server and the outbox."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

from bot.config import AppConfig, parse_config
from bot.handlers.slack.sender import SlackSender
from bot.service import Service
from bot.worker.outbox import Delivery
from storage.models import OutboxMessage
from tests.fakes.slack_api import FakeSlackApi
from tests.fakes.slack_workspace import SlackWorkspace

ROOT = Path(__file__).resolve().parents[2]
# Everyone who acts in a screening works in Slack here; the LA deputy stays on e-mail.
SLACK_IDS = {
    "bm": "U0BM00001",
    "la-dsp": "U0LA00001",
    "police-dsp": "U0POL0001",
    "health-dsp": "U0HEA0001",
    "scrutineer": "U0SCR0001",
    "exec-chair": "U0EXC0001",
    "la-hos": "U0LAH0001",
    "police-lead": "U0POL0002",
}
BM, LA, POLICE, HEALTH = SLACK_IDS["bm"], SLACK_IDS["la-dsp"], SLACK_IDS["police-dsp"], SLACK_IDS["health-dsp"]
SCRUTINEER, CHAIR, NOTIFIER, POLICE_LEAD = (SLACK_IDS[k] for k in ("scrutineer", "exec-chair", "la-hos", "police-lead"))
STRANGER = "U0NOBODY01"
SEND_TIMEOUT = 0.5  # seconds: the sender gives up on a Slack call after this
SUMMARY = "A four-year-old was admitted to hospital with unexplained injuries; the family is known to services."
RATIONALE = "Injuries unexplained and the family known to three agencies; the criteria appear met."
RR_GROUNDS = {
    "abuse_nature": "Suspected physical abuse: unexplained fractures in a pre-school child.",
    "harm_basis": "Potentially life-changing injuries; serious harm criteria judged met.",
}


def slack_roster_config(path: Path = ROOT / "app.yaml") -> tuple[AppConfig, dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for person in data["roster"]:
        if person["id"] in SLACK_IDS:
            person.update(channel="slack", slack=SLACK_IDS[person["id"]])
            person.pop("teams", None)
    return parse_config(data), data


# ---------------------------------------------------------------- steps


@dataclass
class Steps:
    """What people do in Slack, step by step, through the real server and the outbox."""

    slack: SlackWorkspace
    delivery: Delivery
    service: Service
    sender: SlackSender | None = None

    async def drain(self) -> None:
        """Run the delivery loop until nothing is due, and let the Homes it republishes land."""
        await self.delivery.drain()
        if self.sender is not None:
            await self.sender.idle()

    @property
    def api(self) -> FakeSlackApi:
        return self.slack.api

    async def open_modal(self, user: str, message: Mapping[str, Any], label: str) -> dict[str, Any]:
        before = len(self.api.calls_to("views.open"))
        answer = await self.slack.click(user, message, label)
        assert answer.status == 200, answer
        calls = await self.api.wait_for("views.open", before + 1)
        assert calls[-1].status == 200
        return self.api.last_view()

    async def register(self, summary: str = SUMMARY, **extra: str) -> str:
        before = len(self.api.calls_to("views.open"))
        answer = await self.slack.command(BM, "new")
        assert answer.status == 200, answer
        await self.api.wait_for("views.open", before + 1)
        view = self.api.last_view()
        values = {"referrer_name": "Dr A Referrer", "referrer_email": "referrer@example.org", "panel_summary": summary}
        answer = await self.slack.submit(BM, view, values | extra)
        assert answer.status == 200 and answer.body["response_action"] == "update", answer
        text = answer.modal["blocks"][0]["text"]["text"]
        ref = text.split("registered as ")[1].rstrip(".")
        await self.drain()
        return ref

    def vote_request(self, user: str, ref: str) -> dict[str, Any]:
        return self.api.last_dm(user, f"{ref} needs")

    async def vote(
        self, user: str, ref: str, label: str, notifiable: str = "no", message: Mapping[str, Any] | None = None, **more
    ) -> Any:
        message = message or self.vote_request(user, ref)
        view = await self.open_modal(user, message, label)
        values = {"notifiable": notifiable, "rationale": RATIONALE} | more
        answer = await self.slack.submit(user, view, values)
        assert answer.status == 200, answer
        return answer

    async def outbox(self, **where: Any) -> list[OutboxMessage]:
        async def read(uow: Any) -> list[OutboxMessage]:
            query = select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
            return list(await uow.session.scalars(query))

        return await self.service.read(read)

    async def count(self, model: Any) -> int:
        return await self.service.read(lambda uow: uow.session.scalar(select(func.count()).select_from(model)))
