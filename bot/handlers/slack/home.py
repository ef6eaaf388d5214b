"""What the App Home and `/panel list|show` show, read from the case store and drawn as Block Kit.

Reads go through `bot.views` (the same views `panelbot cases` and `case show` print), which never
include the child's details; only the reference, status, deadlines, votes and the panel summary.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, DividerBlock, HeaderBlock, SectionBlock
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot import interactions
from bot.config import AppConfig, Person, Role
from bot.flows.common import Env, case_page
from bot.flows.screening.notices import due_fact
from bot.handlers.slack.blocks import clip, escape, fact_blocks, mrkdwn, plain
from bot.service import Service
from bot.views import Owed, case_facts, home_data, parse_iso, pathway_label, yes_no_label

MAX_HOME_BLOCKS = 100
MAX_LIST_BLOCKS = 50


# ---------------------------------------------------------------- drawing


def _due(env: Env, when: dt.datetime) -> str:
    return due_fact(env, "due", when).value


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
        due = parse_iso(c["next_deadline"])
        nxt = f"next: {escape(c['next_what'])}, {_due(env, due)}" if due and c["next_what"] else "nothing due"
        page = case_page(env, c["ref"])
        ref = f"*<{page}|{c['ref']}>*" if page else f"*{c['ref']}*"
        line = f"• {ref} · {c['status'].replace('_', ' ')} · {nxt}"
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


def show_blocks(env: Env, view: dict[str, Any], owing: list[Owed]) -> list[dict[str, Any]]:
    """`/panel show REF`: status, deadlines, votes and decision. `view` is `bot.views.case_view`,
    which holds no child details; its messages and rationales are left out here too."""
    facts = case_facts(env, view)
    blocks: list[Block] = [HeaderBlock(text=plain(view["ref"], 150)), *fact_blocks(facts)]
    votes = [
        f"• round {v['round']} · {escape(agency_name(env.cfg, v['agency']))} · {escape(v['voter_name'])}: "
        f"{escape(pathway_label(v['pathway']))}, notifiable {yes_no_label(v['notifiable'])}"
        f"{' _(after the decision)_' if v['after_decision'] else ''}"
        for v in view["votes"]
    ]
    waiting = [f"• still to vote: {escape(voters_line(env.cfg, o.agency))}" for o in owing if o.ref == view["ref"]]
    blocks.append(SectionBlock(text=mrkdwn("*Votes*")))
    blocks += _list_sections(votes + waiting, "No votes yet.", 20)
    return [b.to_dict() for b in blocks[:MAX_LIST_BLOCKS]]


async def publish_home(service: Service, client: AsyncWebClient, user_id: str, audit_strangers: bool = False) -> None:
    """Draw a person's App Home from the case store: what waits for them (and, for the Business
    Manager, every open case and who still owes a vote)."""
    person = service.cfg.by_slack_id(user_id)
    if person is None:
        if audit_strangers:
            await interactions.refuse_stranger(service, "slack", user_id, "slack app home")
        await client.views_publish(user_id=user_id, view=stranger_home())
        return
    data = await service.read(lambda uow: home_data(uow, service.env, person))
    await client.views_publish(user_id=user_id, view=home_view(service.env, person, data))


def home_publisher(service: Service) -> Any:
    """For the sender: republish a recipient's Home after a message changed their to-do list."""

    async def publish(client: AsyncWebClient, user_id: str) -> None:
        await publish_home(service, client, user_id)

    return publish
