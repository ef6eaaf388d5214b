"""What the App Home and `/panel list|show` show, read from the case store and drawn as Block Kit.

Reads go through `bot.views` (the same views `panelbot cases` and `case show` print), which never
include the child's details; only the reference, status, deadlines, votes and the panel summary.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, SectionBlock
from slack_sdk.models.views import View
from sqlalchemy import or_, select

from bot.channels.slack import clip, escape, fact_blocks, mrkdwn, plain
from bot.config import AppConfig, Person, Role
from bot.flows.common import Env
from bot.flows.notices import due_fact
from bot.flows.tally import PATHWAY_LABELS, Pathway
from bot.messages import Fact
from bot.views import cases_view
from storage.models import Case, Obligation
from storage.uow import UnitOfWork

MAX_HOME_BLOCKS = 100
MAX_LIST_BLOCKS = 50


@dataclass(frozen=True)
class Owed:
    """Something someone owes on a case: an open obligation."""

    ref: str
    kind: str
    what: str
    due_at: dt.datetime
    agency: str | None


async def open_obligations(uow: UnitOfWork, person: Person | None = None) -> list[Owed]:
    """Open obligations, all of them or those the person's roles (and agency) make theirs."""
    query = (
        select(Obligation, Case.ref)
        .join(Case, Case.id == Obligation.case_id)
        .where(Obligation.state == "open")
        .order_by(Obligation.due_at, Obligation.id)
    )
    if person is not None:
        roles = {r.value for r in person.roles}
        if person.has(Role.DEPUTY):
            roles.add(Role.PANEL_MEMBER.value)  # a deputy may cast the agency's vote
        query = query.where(Obligation.owner_role.in_(roles))
        query = query.where(or_(Obligation.owner_agency.is_(None), Obligation.owner_agency == person.agency))
    rows = await uow.session.execute(query)
    return [Owed(ref, o.kind, o.what, o.due_at, o.owner_agency) for o, ref in rows]


async def home_data(uow: UnitOfWork, env: Env, person: Person) -> dict[str, Any]:
    data: dict[str, Any] = {"mine": await open_obligations(uow, person)}
    if person.has(Role.BUSINESS_MANAGER):
        data["cases"] = await cases_view(uow, env, open_only=True)
        data["owing"] = [o for o in await open_obligations(uow) if o.kind == "vote"]
    return data


# ---------------------------------------------------------------- drawing


def _due(env: Env, when: dt.datetime) -> str:
    return due_fact(env, "due", when).value


def _iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def agency_name(cfg: AppConfig, agency: str) -> str:
    return cfg.agencies[agency].name if agency in cfg.agencies else agency


def voters_line(cfg: AppConfig, agency: str | None) -> str:
    if agency is None:
        return "unknown agency"
    names = ", ".join(p.name for p in cfg.voters_for(agency))
    return f"{agency_name(cfg, agency)} ({names})" if names else agency_name(cfg, agency)


def owed_lines(env: Env, owed: list[Owed]) -> list[str]:
    return [f"• *{o.ref}*: {escape(o.what)}, {_due(env, o.due_at)}" for o in owed]


def case_lines(env: Env, cases: list[dict[str, Any]], owing: list[Owed]) -> list[str]:
    lines = []
    for c in cases:
        due = _iso(c["next_deadline"])
        nxt = f"next: {escape(c['next_what'])}, {_due(env, due)}" if due and c["next_what"] else "nothing due"
        line = f"• *{c['ref']}* · {c['status'].replace('_', ' ')} · {nxt}"
        waiting = [voters_line(env.cfg, o.agency) for o in owing if o.ref == c["ref"]]
        if waiting:
            line += f"\n      still to vote: {escape('; '.join(waiting))}"
        lines.append(line)
    return lines


def _list_sections(lines: list[str], empty: str, budget: int) -> list[Block]:
    """Lines packed into sections of at most 3000 characters, at most `budget` blocks."""
    if not lines:
        return [SectionBlock(text=mrkdwn(f"_{empty}_"))]
    blocks: list[Block] = []
    chunk = ""
    for line in lines:
        if chunk and len(chunk) + len(line) + 1 > 2900:
            blocks.append(SectionBlock(text=mrkdwn(chunk)))
            chunk = ""
        chunk = f"{chunk}\n{line}" if chunk else clip(line, 2900)
    blocks.append(SectionBlock(text=mrkdwn(chunk)))
    if len(blocks) > budget:
        blocks = [*blocks[: budget - 1], ContextBlock(elements=[mrkdwn("…more not shown; see `/panel list`")])]
    return blocks


def home_view(env: Env, person: Person, data: dict[str, Any]) -> dict[str, Any]:
    blocks: list[Block] = [HeaderBlock(text=plain(f"panelbot · {env.cfg.partnership.name}", 150))]
    blocks.append(
        ContextBlock(elements=[mrkdwn(f"{escape(person.name)} · updated {env.local(env.now())} · `/panel help`")])
    )
    mine = [o for o in data["mine"] if o.kind == "vote"] if person.has(Role.PANEL_MEMBER) else []
    if mine:
        blocks += [HeaderBlock(text=plain("Waiting for your vote", 150))]
        blocks += _list_sections(owed_lines(env, mine), "", 20)
    others = [o for o in data["mine"] if o not in mine]
    if others or not mine:
        blocks += [HeaderBlock(text=plain("Waiting for you", 150))]
        blocks += _list_sections(owed_lines(env, others), "Nothing is waiting for you.", 20)
    if "cases" in data:
        blocks += [DividerBlock(), HeaderBlock(text=plain("Open cases", 150))]
        budget = MAX_HOME_BLOCKS - len(blocks)
        blocks += _list_sections(case_lines(env, data["cases"], data["owing"]), "No open cases.", budget)
    return View(type="home", blocks=blocks[:MAX_HOME_BLOCKS]).to_dict()


def stranger_home() -> dict[str, Any]:
    text = (
        "You are not on this partnership's panel roster, so panelbot has nothing to show you. "
        "If you should be, please contact the Business Manager."
    )
    return View(type="home", blocks=[SectionBlock(text=mrkdwn(text))]).to_dict()


def list_blocks(env: Env, cases: list[dict[str, Any]], owing: list[Owed]) -> list[dict[str, Any]]:
    blocks: list[Block] = [SectionBlock(text=mrkdwn(f"*Open cases* ({len(cases)})"))]
    blocks += _list_sections(case_lines(env, cases, owing), "No open cases.", MAX_LIST_BLOCKS - 1)
    return [b.to_dict() for b in blocks]


def _label(value: str | None) -> str:
    return PATHWAY_LABELS[Pathway(value)] if value else "—"


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("Yes" if value else "No")


def show_blocks(env: Env, view: dict[str, Any], owing: list[Owed]) -> list[dict[str, Any]]:
    """`/panel show REF`: status, deadlines, votes and decision. `view` is `bot.views.case_view`,
    which holds no child details; its messages and rationales are left out here too."""
    facts = [Fact(label="Status", value=view["status"].replace("_", " "))]
    for label, key in (
        ("Received", "received"),
        ("Screening due", "screening_due"),
        ("Notification due", "notification_due"),
        ("Notified", "notified"),
        ("Rapid Review due", "rapid_review_due"),
    ):
        when = _iso(view.get(key))
        if when is not None:
            facts.append(Fact(label=label, value=env.local(when)))
    if view["pathway"]:
        decided = _iso(view["decided_at"])
        facts.append(
            Fact(
                label="Decision",
                value=f"{_label(view['pathway'])}, notifiable: {_yes(view['notifiable'])} "
                f"({view['method']}, {env.local(decided) if decided else '—'})",
            )
        )
    blocks: list[Block] = [HeaderBlock(text=plain(view["ref"], 150)), *fact_blocks(facts)]
    votes = [
        f"• round {v['round']} · {escape(agency_name(env.cfg, v['agency']))} · {escape(v['voter_name'])}: "
        f"{escape(_label(v['pathway']))}, notifiable {_yes(v['notifiable'])}"
        f"{' _(after the decision)_' if v['after_decision'] else ''}"
        for v in view["votes"]
    ]
    waiting = [f"• still to vote: {escape(voters_line(env.cfg, o.agency))}" for o in owing if o.ref == view["ref"]]
    blocks.append(SectionBlock(text=mrkdwn("*Votes*")))
    blocks += _list_sections(votes + waiting, "No votes yet.", 20)
    return [b.to_dict() for b in blocks[:MAX_LIST_BLOCKS]]
