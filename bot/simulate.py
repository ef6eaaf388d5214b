"""`panelbot simulate`: play a scripted scenario through the real flows, on an in-memory case store
with a virtual clock. Every step is a command a person would give; `until:` runs the clock forward,
firing whatever reminders fall due on the way, at their own times.

A step a real person could get wrong (a vote from someone not on the panel, a rationale too short,
an unknown reference) is rejected with the reason, and the run goes on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from bot.clock import ManualClock
from bot.config import AppConfig, ConfigError, Role, parse_config
from bot.deadlines import parse_when
from bot.flows import links
from bot.flows.commands import (
    AddAction,
    CastVote,
    MarkDone,
    Reconsider,
    RecordComplaint,
    RecordConsultation,
    RecordCspr,
    RecordDelay,
    RecordNotificationSent,
    RecordOutcome,
    RecordReferrerAnswer,
    RecordScrutiny,
    RecordScrutinyMeeting,
    RecordSubmission,
    RegisterReferral,
    SignOff,
    field_errors,
)
from bot.flows.common import FlowError
from bot.flows.screening import panel
from bot.flows.timelines import plan, review
from bot.flows.timelines.chasing import ensure_digest
from bot.sealing import Keyring
from bot.service import Service
from bot.views import case_view, iso
from bot.worker import reminders
from bot.worker.outbox import Delivery, Outgoing, RecordingSender
from storage.migrate import upgrade
from storage.models import Case, OutboxMessage
from storage.uow import UnitOfWork

# step name → (command model, flow, whether `by` defaults to the Business Manager)
STEPS: dict[str, tuple[type[BaseModel], Callable[..., Awaitable[Any]], bool]] = {
    "referral": (RegisterReferral, panel.register_referral, True),
    "vote": (CastVote, panel.cast_vote, False),
    "scrutiny": (RecordScrutiny, panel.record_scrutiny, False),
    "referrer_answer": (RecordReferrerAnswer, panel.record_referrer_answer, True),
    "consultation": (RecordConsultation, panel.record_consultation, False),
    "notification_sent": (RecordNotificationSent, panel.record_notification_sent, False),
    "milestone_done": (MarkDone, plan.mark_done, False),
    "delay": (RecordDelay, plan.record_delay, True),
    "cspr": (RecordCspr, plan.record_cspr, True),
    "complaint": (RecordComplaint, plan.record_complaint, True),
    "outcome": (RecordOutcome, review.record_outcome, False),
    "signoff": (SignOff, review.sign_off, False),
    "submission": (RecordSubmission, review.record_submission, True),
    "action": (AddAction, review.add_action, True),
    "reconsider": (Reconsider, panel.reconsider, True),
    "scrutiny_meeting": (RecordScrutinyMeeting, panel.record_scrutiny_meeting, True),
}
CHANNELS = ("slack", "teams", "email", "calendar")
# Steps a person reached by e-mail can take through their link (`via: link`).
LINK_PURPOSES = {
    "vote": links.Purpose.VOTE,
    "scrutiny": links.Purpose.SCRUTINY,
    "consultation": links.Purpose.CONSULTATION,
    "notification_sent": links.Purpose.NOTIFICATION,
    "milestone_done": links.Purpose.MILESTONE,
    "referrer_answer": links.Purpose.REFERRER,
}
StepHook = Callable[[dt.datetime, str, dict[str, Any]], None]


class ScenarioError(ValueError):
    """The scenario file itself is wrong (not a person's mistake): the run stops."""


@dataclass
class Simulation:
    cfg: AppConfig
    service: Service
    clock: ManualClock
    sender: RecordingSender = field(default_factory=RecordingSender)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    on_step: StepHook | None = None
    on_link: Callable[[str, links.LinkPage], None] | None = None

    @property
    def delivery(self) -> Delivery:
        return Delivery(self.service, dict.fromkeys(CHANNELS, self.sender), "simulate")

    async def run_until(self, moment: dt.datetime) -> None:
        """Move the clock to `moment`, stopping at each reminder on the way to fire it on time."""
        while (due := await reminders.next_due(self.service)) is not None and due <= moment:
            self.clock.set(max(due, self.clock.now()))
            await reminders.fire_due(self.service, "simulate")
            await self.delivery.drain()
        self.clock.set(max(moment, self.clock.now()))
        await self.delivery.drain()

    async def step(self, index: int, step: dict[str, Any]) -> None:
        kinds = [k for k in step if k != "at"]
        if len(kinds) != 1 or kinds[0] not in (*STEPS, "until"):
            raise ScenarioError(f"step {index + 1}: expected `at` and one of {', '.join([*STEPS, 'until'])}")
        kind = kinds[0]
        if kind == "until":
            await self.run_until(self.when(step["until"], index))
            return
        if "at" in step:
            await self.run_until(self.when(step["at"], index))
        if self.on_step is not None:
            self.on_step(self.clock.now(), kind, step[kind] or {})
        await self.command(index, kind, dict(step[kind] or {}))
        await self.delivery.drain()

    async def command(self, index: int, kind: str, data: dict[str, Any]) -> None:
        model, flow, bm_default = STEPS[kind]
        if bm_default and "by" not in data:
            data["by"] = self.cfg.holders(Role.BUSINESS_MANAGER)[0].id
        via = data.pop("via", None)
        try:
            if via == "link":
                await self.through_link(kind, data)
            elif via is not None:
                raise ScenarioError(f"step {index + 1}: `via` can only be `link`")
            else:
                await self.service.run(flow, model.model_validate(data))
        except ValidationError as exc:
            errors = "; ".join(f"{k}: {v}" for k, v in field_errors(exc).items())
            self.reject(index, kind, errors)
        except FlowError as exc:
            self.reject(index, kind, exc.message)

    async def through_link(self, kind: str, data: dict[str, Any]) -> None:
        """What the person does with the link in their latest e-mail: open the page (as a mail scanner
        would first: nothing changes), then send its form, as the desk's link page does."""
        purpose = LINK_PURPOSES.get(kind)
        if purpose is links.Purpose.REFERRER:
            data.pop("by", None)  # the referrer is on no roster: their link says who they are
        url = self.latest_link(str(data.get("by", "")) or None, purpose)
        if purpose is None or url is None:
            raise FlowError(f"{data.get('by', 'the referrer')} has no e-mail with a link for {kind.replace('_', ' ')}")
        ref, token = url.rsplit("/", 2)[-2:]
        page = await self.service.read(lambda uow: links.link_page(uow, self.service.env, ref, token))
        if self.on_link is not None:
            self.on_link(url, page)
        fields = {k: v for k, v in data.items() if k not in ("by", "ref")}
        act = links.ActThroughLink(
            ref=ref, token=token, purpose=purpose.value, fields=fields, ip="192.0.2.10", user_agent="panelbot simulate"
        )
        await self.service.run(links.act, act)

    def latest_link(self, person_id: str | None, purpose: links.Purpose | None) -> str | None:
        for item in reversed(self.sender.sent):
            if item.person_id != person_id or item.channel != "email":
                continue
            for action in item.message.actions:
                if action.url and links.PURPOSE_OF_ACTION.get(action.id) is purpose:
                    return action.url
        return None

    def reject(self, index: int, kind: str, error: str) -> None:
        self.rejected.append({"at": iso(self.clock.now()), "step": f"{index + 1}:{kind}", "error": error})

    def when(self, value: Any, index: int) -> dt.datetime:
        return scenario_time(self.cfg, value, index)

    async def report(self) -> dict[str, Any]:
        async def work(uow: UnitOfWork) -> dict[str, Any]:
            refs = list(await uow.session.scalars(select(Case.ref).order_by(Case.id)))
            cases = [await case_view(uow, self.service.env, ref) for ref in refs]
            rows = await uow.session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id))
            by_case = {c.id: c.ref for c in await uow.session.scalars(select(Case))}
            messages = [
                {
                    "at": iso(m.created_at),
                    "kind": m.kind,
                    "to": m.person_id or m.address,
                    "channel": m.channel,
                    "ref": by_case.get(m.case_id),
                    "title": m.payload.get("title", ""),
                    "text": m.payload.get("text", ""),
                }
                for m in rows
            ]
            for case in cases:
                case["obligations"] = (await plan.timeline(uow, self.service.env, case["ref"]))["obligations"]
            return {"cases": cases, "messages": messages, "rejected": self.rejected}

        return await self.service.read(work)


def load_scenario(path: Path, cfg: AppConfig) -> tuple[AppConfig, list[dict[str, Any]]]:
    """A scenario file: a list of steps, or a mapping with `steps:` and optional `config:` overrides
    (merged over app.yaml for this run only, e.g. `config: {process: {decision_rule: unanimous}}`)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise ScenarioError(f"{path}: a scenario is a list of steps (or a mapping with `steps:`)")
    overrides = data.get("config") if isinstance(data, dict) else None
    if overrides:
        try:
            cfg = parse_config(_merge(cfg.model_dump(mode="json"), overrides), f"{path}: config")
        except ConfigError as exc:
            raise ScenarioError("; ".join(exc.problems)) from None
    return cfg, steps


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = (
            _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


async def simulate(
    cfg: AppConfig,
    steps: list[dict[str, Any]],
    on_send: Callable[[Outgoing], None] | None = None,
    on_step: StepHook | None = None,
    on_link: Callable[[str, links.LinkPage], None] | None = None,
    at_end: Callable[[Service], Awaitable[None]] | None = None,
    database_url: str = "sqlite+aiosqlite://",
) -> dict[str, Any]:
    """Play `steps`; `at_end` gets the store before it is thrown away (the demo writes the case PDF)."""
    start = _first_time(cfg, steps)
    clock = ManualClock(start)
    service = Service.create(cfg, clock, database_url, data_keys=Keyring.throwaway())
    await upgrade(service.engine)
    await service.transact(lambda uow: ensure_digest(uow, service.env))  # the daily digest, as `serve` starts it
    sim = Simulation(cfg, service, clock, RecordingSender(on_send=on_send), on_step=on_step, on_link=on_link)
    try:
        for index, step in enumerate(steps):
            await sim.step(index, step)
        report = await sim.report()
        if at_end is not None:
            await at_end(service)
        return report
    finally:
        await service.close()


def _first_time(cfg: AppConfig, steps: list[dict[str, Any]]) -> dt.datetime:
    for index, step in enumerate(steps):
        value = step.get("at", step.get("until"))
        if value is not None:
            return scenario_time(cfg, value, index)
    raise ScenarioError("the scenario has no step with a time (`at:` or `until:`)")


def scenario_time(cfg: AppConfig, value: Any, index: int) -> dt.datetime:
    """A step's time: ISO, Europe/London unless it carries an offset (YAML may hand us a date)."""
    text = value.isoformat() if isinstance(value, dt.date | dt.datetime) else str(value)
    try:
        return parse_when(text, cfg.tz, day_start=cfg.working_hours.start)
    except ValueError as exc:
        raise ScenarioError(f"step {index + 1}: {exc}") from None
