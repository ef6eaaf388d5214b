"""Prometheus metrics for `/metrics`: what the process measures itself, and what the case store says.

Two kinds:
- measured here, per process: HTTP latency by route (`http_middleware`) and delivery latency by
  channel (`TimedSender`, a wrapper round each platform's sender, so the outbox needs no hook);
- read from the case store when scraped (`Metrics.refresh`): votes, decisions by method, refusals,
  the outbox backlog, reminders due/fired and their lag, overdue obligations. These are the store's
  totals, so every replica reports the same values: aggregate them with `max`, not `sum`.

Each `Metrics` has its own registry (tests build many apps in one process).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from bot.service import Service
from bot.states import ObligationState, OutboxState, ReminderState
from bot.worker.outbox import Outgoing, Sender, SendResult
from storage.models import AuditEvent, Decision, Obligation, OutboxMessage, Reminder, Vote
from storage.uow import UnitOfWork

log = logging.getLogger("panelbot.delivery")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
OUTBOX_STATES = (OutboxState.PENDING, OutboxState.SENDING, OutboxState.FAILED)


@dataclass
class StoreSnapshot:
    """The case store's numbers at one moment; label tuples → value."""

    votes: dict[tuple[str, ...], float] = field(default_factory=dict)  # (agency,)
    decisions: dict[tuple[str, ...], float] = field(default_factory=dict)  # (method, pathway)
    refusals: float = 0
    outbox: dict[tuple[str, ...], float] = field(default_factory=dict)  # (channel, state)
    outbox_oldest_age: dict[tuple[str, ...], float] = field(default_factory=dict)  # (channel,)
    reminders_due: dict[tuple[str, ...], float] = field(default_factory=dict)  # (kind,)
    reminders_fired: dict[tuple[str, ...], float] = field(default_factory=dict)  # (kind, outcome)
    reminder_lag: float = 0.0
    obligations_overdue: dict[tuple[str, ...], float] = field(default_factory=dict)  # (kind,)


def _family(kind: type, name: str, doc: str, labels: list[str], values: Mapping[tuple[str, ...], float]) -> Any:
    family = kind(name, doc, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


class StoreCollector(Collector):
    """Exposes the last `StoreSnapshot` (taken, asynchronously, just before each scrape)."""

    def __init__(self) -> None:
        self.snapshot = StoreSnapshot()

    def collect(self) -> Iterable[Any]:
        s = self.snapshot
        yield _family(CounterMetricFamily, "panelbot_votes", "Votes recorded, by agency.", ["agency"], s.votes)
        yield _family(
            CounterMetricFamily,
            "panelbot_decisions",
            "Screening decisions, by method and pathway.",
            ["method", "pathway"],
            s.decisions,
        )
        yield CounterMetricFamily("panelbot_refusals", "Actions refused (audited).", value=s.refusals)
        yield _family(
            GaugeMetricFamily,
            "panelbot_outbox_messages",
            "Outbox rows not yet sent (pending, sending) or given up (failed), by channel.",
            ["channel", "state"],
            s.outbox,
        )
        yield _family(
            GaugeMetricFamily,
            "panelbot_outbox_oldest_pending_age_seconds",
            "Age of the oldest unsent outbox row, by channel.",
            ["channel"],
            s.outbox_oldest_age,
        )
        yield _family(
            GaugeMetricFamily, "panelbot_reminders_due", "Reminders due and not fired yet.", ["kind"], s.reminders_due
        )
        yield _family(
            CounterMetricFamily,
            "panelbot_reminders_fired",
            "Reminders fired, by kind and outcome.",
            ["kind", "outcome"],
            s.reminders_fired,
        )
        yield GaugeMetricFamily(
            "panelbot_reminder_lag_seconds",
            "How late the most overdue unfired reminder is (0 when none is due).",
            value=s.reminder_lag,
        )
        yield _family(
            GaugeMetricFamily,
            "panelbot_obligations_overdue",
            "Open obligations past their due time, by kind.",
            ["kind"],
            s.obligations_overdue,
        )


def _age(now: dt.datetime, then: dt.datetime | None) -> float:
    return max((now - then).total_seconds(), 0.0) if then is not None else 0.0


async def read_store(uow: UnitOfWork, now: dt.datetime) -> StoreSnapshot:
    s, q = StoreSnapshot(), uow.session.execute
    s.votes = {(a,): n for a, n in await q(select(Vote.agency, func.count()).group_by(Vote.agency))}
    rows = await q(select(Decision.method, Decision.pathway, func.count()).group_by(Decision.method, Decision.pathway))
    s.decisions = {(m, p): n for m, p, n in rows}
    s.refusals = await uow.session.scalar(select(func.count()).where(AuditEvent.action == "refused")) or 0
    rows = await q(
        select(OutboxMessage.channel, OutboxMessage.state, func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.state.in_(OUTBOX_STATES))
        .group_by(OutboxMessage.channel, OutboxMessage.state)
    )
    for channel, state, n, oldest in rows:
        s.outbox[(channel, state)] = n
        if state != OutboxState.FAILED:
            age = _age(now, oldest)
            s.outbox_oldest_age[(channel,)] = max(s.outbox_oldest_age.get((channel,), 0.0), age)
    due = (Reminder.state == ReminderState.PENDING, Reminder.due_at <= now)
    rows = await q(select(Reminder.kind, func.count(), func.min(Reminder.due_at)).where(*due).group_by(Reminder.kind))
    for kind, n, oldest in rows:
        s.reminders_due[(kind,)] = n
        s.reminder_lag = max(s.reminder_lag, _age(now, oldest))
    rows = await q(
        select(Reminder.kind, Reminder.outcome, func.count())
        .where(Reminder.state == ReminderState.DONE)
        .group_by(Reminder.kind, Reminder.outcome)
    )
    s.reminders_fired = {(k, o or "done"): n for k, o, n in rows}
    rows = await q(
        select(Obligation.kind, func.count())
        .where(Obligation.state == ObligationState.OPEN, Obligation.due_at < now)
        .group_by(Obligation.kind)
    )
    s.obligations_overdue = {(k,): n for k, n in rows}
    return s


class Metrics:
    """One process's registry: its own measurements plus the case store's numbers."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.http = Histogram(
            "panelbot_http_request_duration_seconds",
            "HTTP requests, by method, route and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.delivery = Histogram(
            "panelbot_delivery_duration_seconds",
            "One send to a platform, by channel and outcome (sent, retry, failed, unreachable, error).",
            ["channel", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.store = StoreCollector()
        self.registry.register(self.store)
        self.last_send: float | None = None  # monotonic: the delivery loop's most recent send

    async def refresh(self, service: Service) -> None:
        now = service.clock.now()
        self.store.snapshot = await service.read(lambda uow: read_store(uow, now))

    def timed(self, senders: Mapping[str, Sender]) -> dict[str, Sender]:
        return {channel: TimedSender(channel, sender, self) for channel, sender in senders.items()}


def outcome_of(result: SendResult) -> str:
    if result.ok:
        return "sent"
    if result.unreachable:
        return "unreachable"
    return "failed" if result.permanent else "retry"


@dataclass
class TimedSender:
    """A platform's sender, timed: `panelbot_delivery_duration_seconds{channel,outcome}`."""

    channel: str
    inner: Sender
    metrics: Metrics

    async def send(self, item: Outgoing) -> SendResult:
        started = time.monotonic()
        outcome = "error"
        try:
            result = await self.inner.send(item)
            outcome = outcome_of(result)
            return result
        finally:
            self.metrics.last_send = time.monotonic()
            seconds = self.metrics.last_send - started
            self.metrics.delivery.labels(self.channel, outcome).observe(seconds)
            log.info(
                "outbox row %s (%s) to %s: %s",
                item.id,
                item.kind,
                self.channel,
                outcome,
                extra={"event": "outbox.send", "outbox_key": item.key, "kind": item.kind, "channel": self.channel,
                       "outcome": outcome, "to": item.person_id, "attempt": item.attempts,
                       "duration_ms": round(seconds * 1000, 1)},
            )  # fmt: skip


def route_of(request: web.Request) -> str:
    """The route's pattern (`/slack/events`), never the raw path: one series per route, not per URL."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def observe_request(metrics: Metrics, request: web.Request, status: int, seconds: float) -> None:
    metrics.http.labels(request.method, route_of(request), str(status)).observe(seconds)
