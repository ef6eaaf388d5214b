"""What a roster person can type to the bot in Teams (the manifest's `commandLists` offers the same):

- `help` — what panelbot does here and these commands;
- `cases` — open cases with their RAG status and next deadline, and what the person owes;
- `case REF` — a case's deadlines, decision, votes (rationales only for the panel) and timeline;
- `new` — for the Business Manager: where to register a referral (the Part A details never go
  into chat); anyone else is refused, and the refusal audited, as Slack's `/panel new` is.

The same roles as Slack's `/panel`: anyone on the roster may list and look at cases; strangers are
refused before this module is reached. Reads go through `bot.views` and the timeline view, which
never hold the child's details.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.config import Person, Role
from bot.flows.common import Env, FlowError, Refused
from bot.flows.screening.notices import due_fact
from bot.flows.timelines.obligations import rag
from bot.flows.timelines.plan import timeline
from bot.handlers.teams.cards import Desk, adaptive_card, desk_links, fact_set, open_url, text_block
from bot.messages import Fact
from bot.service import Service
from bot.states import ObligationState
from bot.views import (
    Owed,
    case_facts,
    case_view,
    cases_view,
    home_data,
    open_obligations,
    parse_iso,
    pathway_label,
    yes_no_label,
)
from storage.models import Obligation
from storage.uow import UnitOfWork

COMMANDS = (
    ("help", "What panelbot does here and the commands it knows"),
    ("cases", "Open cases: RAG status, next deadline, and what you owe"),
    ("case", "case REF: a case's deadlines, votes, decision and timeline"),
    ("new", "Register a new referral (Business Manager)"),
)
RAG_COLOURS = {"red": "Attention", "amber": "Warning", "green": "Good"}
MAX_CASES = 40
MAX_ACTIONS = 6  # Teams shows at most six actions on a card
MAX_TIMELINE = 40
MAX_RATIONALE = 600  # characters of each rationale shown; the whole text is on the desk and in `case show`
MENTION = re.compile(r"<at>.*?</at>", re.IGNORECASE | re.DOTALL)
TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Answer:
    """What the bot says back: a card, or plain text."""

    card: dict[str, Any] | None = None
    text: str | None = None


def parse(text: str | None) -> tuple[str, str]:
    """The command word (lower case) and the rest, from a message as Teams delivers it (mentions and
    markup removed)."""
    clean = TAG.sub(" ", MENTION.sub(" ", text or "")).replace("&nbsp;", " ").strip()
    verb, _, rest = clean.partition(" ")
    return verb.lower().lstrip("/"), rest.strip()


def help_text(prefix: str) -> str:
    lines = [
        "panelbot runs the screening panel here. Vote requests, decisions, chases and other notices for you "
        "arrive in this chat as cards; answer them on the card. Nothing about a child is ever shown in Teams: "
        "cases are named by their reference. You can type:",
        "",
    ]
    example = {"case": f"case {prefix}-2026-001"}
    lines += [f"- **{example.get(name, name)}** — {what}" for name, what in COMMANDS]
    lines += ["", "Questions: the Business Manager."]
    return "\n".join(lines)


def help_card(prefix: str, banner: str | None = None) -> dict[str, Any]:
    body = [text_block("panelbot", weight="Bolder", size="Medium")]
    if banner:
        body.append(text_block(banner, color="Attention", weight="Bolder"))
    body.append(text_block(help_text(prefix)))
    return adaptive_card(body)


async def answer(service: Service, person: Person, text: str | None, desk: Desk) -> Answer:
    verb, rest = parse(text)
    prefix = service.cfg.partnership.reference_prefix
    if verb == "cases":
        return Answer(card=await cases_card(service, person, desk))
    if verb == "case":
        if not rest:
            which = f"Which case? Type case and its reference, e.g. case {prefix}-2026-001."
            return Answer(card=help_card(prefix, which))
        return Answer(card=await case_card(service, person, rest.split()[0], desk))
    if verb == "new":
        return Answer(card=await new_card(service, person, desk.new_referral()))
    if verb in ("help", "", "hi", "hello"):
        return Answer(card=help_card(prefix))
    return Answer(card=help_card(prefix, f"panelbot does not know {verb!r}."))


# --- cases ----------------------------------------------------------------------------------


def owed_rag(env: Env, owed: Owed) -> str:
    """The RAG rule of the digest, for one thing owed."""
    return rag(env, Obligation(state=ObligationState.OPEN, due_at=owed.due_at), env.now()) or "green"


def rag_line(text: str, status: str | None, **style: Any) -> dict[str, Any]:
    colour = RAG_COLOURS.get(status or "")
    return text_block(text, **({"color": colour} if colour else {}), **style)


def agency_name(env: Env, agency: str | None) -> str:
    if agency is None:
        return "unknown agency"
    return env.cfg.agencies[agency].name if agency in env.cfg.agencies else agency


async def _cases_data(uow: UnitOfWork, env: Env, person: Person) -> dict[str, Any]:
    data = await home_data(uow, env, person)
    if "cases" not in data:  # everyone on the roster sees the open cases, as with Slack's /panel list
        data["cases"] = await cases_view(uow, env, open_only=True)
        data["owing"] = [o for o in await open_obligations(uow) if o.kind == "vote"]
    data["rags"] = {c["ref"]: (await timeline(uow, env, c["ref"]))["rag"] for c in data["cases"][:MAX_CASES]}
    return data


async def cases_card(service: Service, person: Person, desk: Desk) -> dict[str, Any]:
    env = service.env
    data = await service.read(lambda uow: _cases_data(uow, env, person))
    body: list[dict[str, Any]] = [text_block(f"Open cases ({len(data['cases'])})", weight="Bolder", size="Medium")]
    body.append(text_block(f"{person.name} · {env.local(env.now())}", isSubtle=True, spacing="None"))
    body.append(text_block("Waiting for you", weight="Bolder"))
    if not data["mine"]:
        body.append(text_block("Nothing is waiting for you.", isSubtle=True))
    for owed in data["mine"]:
        status = owed_rag(env, owed)
        body.append(rag_line(f"{owed.ref} — {status.upper()}: {owed.what}", status, spacing="Small"))
        body.append(text_block(due_fact(env, "due", owed.due_at).value, isSubtle=True, spacing="None"))
    body.append(text_block("All open cases", weight="Bolder", separator=True))
    if not data["cases"]:
        body.append(text_block("No open cases.", isSubtle=True))
    actions = []
    for case in data["cases"][:MAX_CASES]:
        body += _case_lines(env, case, data["rags"].get(case["ref"]), data["owing"])
        url = desk.case(case["ref"])
        if url and len(actions) < MAX_ACTIONS - 1:
            actions.append(open_url(f"Open {case['ref']}", url))
    if len(data["cases"]) > MAX_CASES:
        body.append(text_block(f"…and {len(data['cases']) - MAX_CASES} more.", isSubtle=True))
    body.append(text_block("Type **case REF** for a case's votes and timeline.", isSubtle=True, size="Small"))
    return adaptive_card(body, actions + desk_links(desk.home(), "Open the desk"))


def _case_lines(env: Env, case: dict[str, Any], status: str | None, owing: list[Owed]) -> list[dict[str, Any]]:
    due = parse_iso(case["next_deadline"])
    head = f"{case['ref']} — {(status or 'no deadline').upper()} · {case['status'].replace('_', ' ')}"
    lines = [rag_line(head, status, weight="Bolder", spacing="Small")]
    if due is not None and case["next_what"]:
        lines.append(text_block(f"Next: {case['next_what']}, {due_fact(env, 'due', due).value}", spacing="None"))
    waiting = [agency_name(env, o.agency) for o in owing if o.ref == case["ref"]]
    if waiting:
        lines.append(text_block(f"Still to vote: {', '.join(waiting)}", isSubtle=True, spacing="None"))
    return lines


# --- case REF -------------------------------------------------------------------------------


def sees_rationales(person: Person) -> bool:
    """The panel: the agencies' panel members and deputies, and the Business Manager who chairs it."""
    return person.may_vote or person.has(Role.BUSINESS_MANAGER)


def clip(text: str, most: int = MAX_RATIONALE) -> str:
    """Long texts cut, so a case with many long votes stays within Teams' message size (about 28 KB)."""
    return text if len(text) <= most else text[: most - 1].rstrip() + "…"


async def _case_data(uow: UnitOfWork, env: Env, ref: str) -> dict[str, Any]:
    view = await case_view(uow, env, ref)
    return {
        "view": view,
        "timeline": await timeline(uow, env, ref),
        "owing": [o for o in await open_obligations(uow) if o.kind == "vote" and o.ref == view["ref"]],
    }


async def case_card(service: Service, person: Person, ref: str, desk: Desk) -> dict[str, Any]:
    env = service.env
    try:
        data = await service.read(lambda uow: _case_data(uow, env, ref.upper()))
    except FlowError as exc:
        return help_card(env.cfg.partnership.reference_prefix, exc.message)
    view, line = data["view"], data["timeline"]
    body = [rag_line(f"{view['ref']}" + (f" — {line['rag'].upper()}" if line["rag"] else ""), line["rag"])]
    body[0] |= {"weight": "Bolder", "size": "Medium"}
    if view["panel_summary"]:
        body.append(text_block(view["panel_summary"]))
    body.append(fact_set(_deadline_facts(env, view, line)))
    body += _vote_blocks(env, view, data["owing"], sees_rationales(person))
    body += _timeline_blocks(line)
    return adaptive_card(body, desk_links(desk.case(view["ref"])))


def _deadline_facts(env: Env, view: dict[str, Any], line: dict[str, Any]) -> list[Fact]:
    facts = case_facts(env, view)
    if line["note"]:
        facts.append(Fact(label="Note", value=line["note"]))
    return facts


def _vote_blocks(env: Env, view: dict[str, Any], owing: list[Owed], rationales: bool) -> list[dict[str, Any]]:
    blocks = [text_block("Votes", weight="Bolder", separator=True)]
    if not view["votes"] and not owing:
        blocks.append(text_block("No votes yet.", isSubtle=True))
    for vote in view["votes"]:
        late = " (after the decision)" if vote["after_decision"] else ""
        head = (
            f"Round {vote['round']} · {agency_name(env, vote['agency'])} · {vote['voter_name']}: "
            f"{pathway_label(vote['pathway'])}, notifiable {yes_no_label(vote['notifiable'])}{late}"
        )
        blocks.append(text_block(head, spacing="Small"))
        if rationales:
            for label, key in (("Rationale", "rationale"), ("Nature", "abuse_nature"), ("Serious harm", "harm_basis")):
                if vote.get(key):
                    blocks.append(text_block(f"{label}: {clip(vote[key])}", isSubtle=True, spacing="None"))
    for owed in owing:
        blocks.append(text_block(f"Still to vote: {agency_name(env, owed.agency)}", isSubtle=True, spacing="Small"))
    return blocks


def _timeline_blocks(line: dict[str, Any]) -> list[dict[str, Any]]:
    rows = line["obligations"]
    blocks = [text_block("Timeline", weight="Bolder", separator=True)]
    if not rows:
        return [*blocks, text_block("Nothing is owed on this case.", isSubtle=True)]
    for row in rows[:MAX_TIMELINE]:
        day = f"Day {row['plan_day']} · " if row["plan_day"] else ""
        state = row["state"] if row["state"] != "done" else f"done ({row['done_by'] or '—'})"
        status = f" · {row['rag'].upper()}" if row["rag"] else ""
        blocks.append(rag_line(f"{day}{row['what']}", row["rag"], spacing="Small"))
        detail = f"{row['owner']} · {row['due_local']} · {state}{status}"
        blocks.append(text_block(detail, isSubtle=True, spacing="None"))
    if len(rows) > MAX_TIMELINE:
        blocks.append(text_block(f"…and {len(rows) - MAX_TIMELINE} more.", isSubtle=True))
    return blocks


# --- new ------------------------------------------------------------------------------------


async def new_card(service: Service, person: Person, new_url: str | None) -> dict[str, Any]:
    if not person.has(Role.BUSINESS_MANAGER):
        refusal = Refused(f"Only the Business Manager can register a referral; {person.name} is not.")
        await service.audit_refusal(refusal, person.id, "teams new")
        return adaptive_card([text_block(refusal.message, weight="Bolder", color="Attention")])
    intro = "A referral's Part A holds the child's details, so it is never entered in chat."
    if new_url:
        body = [text_block("New referral", weight="Bolder", size="Medium"), text_block(intro)]
        body.append(text_block("Register it on the desk; panelbot then convenes the screening panel."))
        return adaptive_card(body, [open_url("Register a referral", new_url)])
    command = f"panelbot referral add --file referral.yaml --by {person.id}"
    body = [
        text_block("New referral", weight="Bolder", size="Medium"),
        text_block(intro + " Register it on the panelbot server with:"),
        text_block(command, fontType="Monospace"),
        text_block(
            "referral.yaml holds the Part A fields (referrer, child, panel_summary; see the README's "
            "Commands). panelbot gives the case its reference and sends the vote requests at once.",
            isSubtle=True,
        ),
    ]
    return adaptive_card(body)
