"""What an operator's tools ask `panelbot serve`: `/livez`, `/readyz`, `/metrics`, and a request id and
access log line for every request.

- `/livez`: the process answers (no database call): restart the process when this fails.
- `/readyz`: the database is reachable, the schema is current, the ticker and the delivery loop have
  shown a heartbeat recently, and the oldest unsent outbox row (on a channel this process delivers)
  is younger than a threshold. 503 with the reasons otherwise: take the replica out of the load balancer.
- `/metrics`: Prometheus text. Never open by default: with `PANELBOT_METRICS_TOKEN` set it needs
  `Authorization: Bearer <token>`; `PANELBOT_METRICS_PORT` serves it on a port of its own instead
  (`metrics_app`); with neither, it is not served.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from bot import logs
from bot.metrics import Handler, Metrics, observe_request
from bot.service import Service
from bot.settings import Settings, reveal
from bot.states import OutboxState
from bot.worker.outbox import Delivery
from bot.worker.ticker import Ticker
from storage.migrate import schema_status
from storage.models import OutboxMessage

log = logging.getLogger("panelbot.http")
CHECK_TIMEOUT = 5.0  # seconds: a hung database makes /readyz answer 503, not hang
REQUEST_ID_HEADER = "X-Request-ID"


@dataclass
class Ops:
    """What the operational endpoints look at: this process's metrics and workers."""

    metrics: Metrics = field(default_factory=Metrics)
    ticker: Ticker | None = None
    delivery: Delivery | None = None
    heartbeat_max_age: float = 60.0  # seconds
    outbox_max_age: float = 900.0  # seconds; 0 turns the check off

    @classmethod
    def from_settings(cls, settings: Settings, **workers: Any) -> Ops:
        return cls(
            heartbeat_max_age=settings.panelbot_ready_heartbeat_seconds,
            outbox_max_age=settings.panelbot_ready_outbox_max_age_seconds,
            **workers,
        )

    def worker_problems(self) -> list[str]:
        """The ticker and the delivery loop each need a heartbeat younger than `heartbeat_max_age`. A tick
        busy delivering a long backlog counts as alive while the delivery loop keeps moving."""
        now = time.monotonic()
        delivery = self.delivery.last_run_at if self.delivery is not None else None
        moved = max((t for t in (delivery, self.metrics.last_send) if t is not None), default=None)
        ticked = self.ticker.last_tick_at if self.ticker is not None else None
        alive = max((t for t in (ticked, moved) if t is not None and ticked is not None), default=None)
        problems = []
        for name, beat in (("ticker", alive), ("delivery", moved)):
            if beat is None:
                problems.append(f"{name}: not running")
            elif now - beat > self.heartbeat_max_age:
                problems.append(f"{name}: no heartbeat for {now - beat:.0f} s")
        return problems


async def oldest_unsent_age(service: Service, channels: list[str]) -> float:
    """Seconds since the oldest pending or sending outbox row on these channels was written (0: none)."""

    async def work(uow: Any) -> Any:
        return await uow.session.scalar(
            select(func.min(OutboxMessage.created_at)).where(
                OutboxMessage.state.in_((OutboxState.PENDING, OutboxState.SENDING)),
                OutboxMessage.channel.in_(channels),
            )
        )

    oldest = await service.read(work) if channels else None
    return max((service.clock.now() - oldest).total_seconds(), 0.0) if oldest is not None else 0.0


async def readiness(service: Service, ops: Ops) -> dict[str, Any]:
    checks: dict[str, Any] = {}
    problems: list[str] = []
    try:
        schema = await asyncio.wait_for(schema_status(service.engine), CHECK_TIMEOUT)
        checks["database"], checks["schema"] = "ok", schema
        if not schema["up_to_date"]:
            behind = f"schema: at {schema['current']}, the code needs {schema['head']}"
            problems.append(f"{behind}: run panelbot db upgrade")
    except Exception as exc:  # the check must answer even when the database does not
        checks["database"] = f"error: {type(exc).__name__}"
        problems.append("database: unreachable")
    problems += ops.worker_problems()
    if checks["database"] == "ok" and ops.outbox_max_age > 0 and ops.delivery is not None:
        try:
            age = await asyncio.wait_for(oldest_unsent_age(service, list(ops.delivery.senders)), CHECK_TIMEOUT)
            checks["outbox_oldest_unsent_seconds"] = round(age)
            if age > ops.outbox_max_age:
                problems.append(f"outbox: oldest unsent message is {age:.0f} s old (limit {ops.outbox_max_age:.0f} s)")
        except Exception as exc:
            problems.append(f"outbox: could not be read ({type(exc).__name__})")
    return {"status": "unready" if problems else "ready", "problems": problems, **checks}


async def livez(_request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


def mount(app: web.Application, service: Service, settings: Settings, ops: Ops) -> None:
    """Add the request middleware and `/livez`, `/readyz` and `/metrics` to `app`."""

    async def readyz(_request: web.Request) -> web.Response:
        body = await readiness(service, ops)
        return web.json_response(body, status=200 if body["status"] == "ready" else 503)

    token = reveal(settings.panelbot_metrics_token)

    async def metrics(request: web.Request) -> web.Response:
        if not token:
            raise web.HTTPNotFound(text="metrics are served only with PANELBOT_METRICS_TOKEN or PANELBOT_METRICS_PORT")
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise web.HTTPUnauthorized(headers={"WWW-Authenticate": "Bearer"}, text="bearer token required")
        return await metrics_response(service, ops)

    app.middlewares.append(request_middleware(ops.metrics))
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def metrics_response(service: Service, ops: Ops) -> web.Response:
    try:
        await asyncio.wait_for(ops.metrics.refresh(service), CHECK_TIMEOUT)
    except Exception as exc:  # the process's own series still go out; the store's are the last ones read
        log.warning("metrics: could not read the case store (%s)", type(exc).__name__, extra={"event": "metrics.stale"})
    body = generate_latest(ops.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def metrics_app(service: Service, ops: Ops) -> web.Application:
    """`/metrics` alone, without a token, for `PANELBOT_METRICS_PORT` (keep that port off the internet)."""

    async def metrics(_request: web.Request) -> web.Response:
        return await metrics_response(service, ops)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


def _request_id(request: web.Request) -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    if 0 < len(given) <= 64 and all(c.isalnum() or c in "-_." for c in given):
        return given  # the load balancer's id, so its logs and ours line up
    return uuid.uuid4().hex


def request_middleware(metrics: Metrics) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        rid = _request_id(request)
        started, status = time.monotonic(), 500
        with logs.bound(request_id=rid):
            try:
                response = await handler(request)
                status = response.status
                response.headers[REQUEST_ID_HEADER] = rid
                return response
            except web.HTTPException as exc:
                status = exc.status
                exc.headers[REQUEST_ID_HEADER] = rid
                raise
            finally:
                seconds = time.monotonic() - started
                observe_request(metrics, request, status, seconds)
                if request.path not in QUIET_PATHS:
                    log.info(
                        "%s %s %s %.3f s",
                        request.method,
                        request.path,
                        status,
                        seconds,
                        extra={"event": "http.request", "method": request.method, "path": request.path,
                               "status": status, "duration_ms": round(seconds * 1000, 1)},
                    )  # fmt: skip

    return middleware


QUIET_PATHS = frozenset({"/livez", "/readyz", "/healthz", "/metrics"})  # probes every few seconds: no log line
