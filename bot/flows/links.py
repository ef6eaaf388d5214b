"""Single-purpose links: how someone who is reached by e-mail acts without Slack or Teams.

A link grants one purpose (vote for their agency in this round, concur or disagree with this
decision, record this consultation outcome, notification sent, this milestone done, the referrer's
answer) to one person on one case. The URL carries a token `salt.mac`: `salt` is 128 random bits
(`secrets.token_urlsafe(16)`), `mac` is HMAC-SHA256 of the salt under the server's link key
(`PANELBOT_LINK_KEY`). The store keeps the salt and the SHA-256 of the whole token, never the token
or the key: reading the database does not give anyone a working link, and a reminder can still send
the same link again, because the server re-derives the token from the salt with its key.

A link lives while its purpose does (the round is undecided, the obligation open, the person still on
the roster with the role) and at most `links.valid_working_days`; the Business Manager can revoke it.
Acting through one runs the ordinary flow as the link's person, in one transaction with the audit
event (link id, IP address, user agent) and a confirmation e-mail.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError
from sqlalchemy import select

from bot.config import Duration, Person, Role
from bot.flows.commands import (
    CastVote,
    Command,
    MarkDone,
    RecordConsultation,
    RecordNotificationSent,
    RecordScrutiny,
    Ref,
    field_errors,
)
from bot.flows.common import (
    Conflict,
    Env,
    FlowError,
    NotFound,
    audit,
    load_case,
    person_or_refuse,
    post_email,
    require_role,
)
from bot.flows.personal import refuse_part_a
from bot.flows.screening import panel, referrer
from bot.flows.screening.notices import yes_no
from bot.flows.screening.tally import PATHWAY_LABELS, Pathway
from bot.flows.timelines import plan
from bot.flows.timelines.obligations import owners as plan_owners
from bot.messages import Action, ActionId, Fact, Message, split_action_value
from bot.states import CaseStatus, ObligationState, RoundState
from storage.models import Case, Decision, Link, Obligation, OutboxMessage, ScreeningRound, Vote
from storage.uow import UnitOfWork


class Purpose(StrEnum):
    VOTE = "vote"
    SCRUTINY = "scrutiny"
    CONSULTATION = "consultation"
    NOTIFICATION = "notification"
    MILESTONE = "milestone"
    REFERRER = "referrer"


# Which purpose a message's action stands for, when the message goes by e-mail.
PURPOSE_OF_ACTION: dict[ActionId, Purpose] = {
    ActionId.VOTE: Purpose.VOTE,
    ActionId.CHANGE_VOTE: Purpose.VOTE,
    ActionId.CONCUR: Purpose.SCRUTINY,
    ActionId.DISAGREE: Purpose.SCRUTINY,
    ActionId.CONSULTATION: Purpose.CONSULTATION,
    ActionId.NOTIFICATION_SENT: Purpose.NOTIFICATION,
    ActionId.MILESTONE_DONE: Purpose.MILESTONE,
    ActionId.REFERRER_REPLY: Purpose.REFERRER,
}

# Who may hold a link for each purpose (the flow it runs checks again).
ROLES: dict[Purpose, tuple[Role, ...]] = {
    Purpose.SCRUTINY: (Role.INDEPENDENT_SCRUTINEER, Role.EXECUTIVE_CHAIR),
    Purpose.CONSULTATION: (Role.EXECUTIVE_CHAIR, Role.INDEPENDENT_SCRUTINEER, Role.BUSINESS_MANAGER),
    Purpose.NOTIFICATION: (Role.LA_NOTIFIER, Role.BUSINESS_MANAGER),
}

# Purposes that can be used again while they live: a vote can be changed until the panel decides.
REUSABLE = {Purpose.VOTE}


class LinkState(StrEnum):
    LIVE = "live"
    UNKNOWN = "unknown"  # well formed and signed by us, but no such link (the store was reset)
    TAMPERED = "tampered"  # not a token we made: changed, or cut short by a mail program
    WRONG_CASE = "wrong_case"  # a real link, used with another case's reference
    EXPIRED = "expired"
    REVOKED = "revoked"
    USED = "used"
    CLOSED = "closed"  # its purpose is gone: the panel decided, the task is done, the person left the roster


HTTP_STATUS = {
    LinkState.LIVE: 200,
    LinkState.UNKNOWN: 404,
    LinkState.TAMPERED: 404,
    LinkState.WRONG_CASE: 404,
    LinkState.EXPIRED: 410,
    LinkState.REVOKED: 410,
    LinkState.USED: 410,
    LinkState.CLOSED: 410,
}

TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$")


# --- tokens --------------------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _mac(key: bytes, salt: str) -> str:
    return _b64(hmac.new(key, b"panelbot-link:" + salt.encode("ascii"), hashlib.sha256).digest())


def make_token(key: bytes, salt: str) -> str:
    return f"{salt}.{_mac(key, salt)}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def signed_by(key: bytes, token: str) -> bool:
    """A well-formed token whose mac matches its salt under `key`."""
    if not TOKEN_SHAPE.match(token):
        return False
    salt, mac = token.split(".", 1)
    return hmac.compare_digest(mac, _mac(key, salt))


LOCAL_DESK = "http://127.0.0.1:3978"  # `panelbot serve` on this machine, when `web.base_url` is not set


def link_url(env: Env, ref: str, token: str) -> str:
    return f"{(env.cfg.web.base_url or LOCAL_DESK).rstrip('/')}/l/{ref}/{token}"


# --- issuing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """What a link is for: one purpose, one person (or the referrer's address), one case, and the
    round, decision or obligation the purpose belongs to."""

    purpose: Purpose
    case: Case
    person_id: str | None
    address: str
    round_id: int | None = None
    decision_id: int | None = None
    obligation_id: int | None = None


@dataclass(frozen=True)
class Issued:
    link: Link
    token: str
    url: str
    reused: bool


def _same_scope(scope: Scope) -> list[Any]:
    def eq(column: Any, value: Any) -> Any:
        return column.is_(None) if value is None else column == value

    return [
        Link.case_id == scope.case.id,
        Link.purpose == scope.purpose.value,
        eq(Link.person_id, scope.person_id),
        Link.address == scope.address,
        eq(Link.round_id, scope.round_id),
        eq(Link.decision_id, scope.decision_id),
        eq(Link.obligation_id, scope.obligation_id),
    ]


async def issue(uow: UnitOfWork, env: Env, scope: Scope, fresh: bool = False) -> Issued:
    """The link for this scope: the one already sent while it is alive (so a reminder repeats it),
    else a new one. `fresh` always mints (the `case show --links` command)."""
    if not fresh:
        query = select(Link).where(*_same_scope(scope), Link.revoked_at.is_(None), Link.expires_at > env.now())
        for link in await uow.session.scalars(query.order_by(Link.id.desc())):
            token = make_token(env.link_key, link.salt)
            if token_hash(token) != link.token_hash:
                continue  # made under an earlier key: it still works, but we cannot send it again
            if (await check(uow, env, link, scope.case))[0] is LinkState.LIVE:
                return Issued(link, token, link_url(env, scope.case.ref, token), reused=True)
    salt = secrets.token_urlsafe(16)
    token = make_token(env.link_key, salt)
    now = env.now()
    link = Link(
        token_hash=token_hash(token),
        salt=salt,
        purpose=scope.purpose.value,
        case_id=scope.case.id,
        person_id=scope.person_id,
        address=scope.address,
        round_id=scope.round_id,
        decision_id=scope.decision_id,
        obligation_id=scope.obligation_id,
        created_at=now,
        expires_at=env.cal.due_after(now, Duration(working_days=env.cfg.links.valid_working_days)),
        uses=0,
    )
    uow.session.add(link)
    await uow.session.flush()
    audit(uow, env, "panelbot", "link_issued", scope.case, link=link.id, purpose=link.purpose, person=link.person_id)
    return Issued(link, token, link_url(env, scope.case.ref, token), reused=False)


async def latest_round(uow: UnitOfWork, case: Case) -> ScreeningRound | None:
    query = select(ScreeningRound).where(ScreeningRound.case_id == case.id).order_by(ScreeningRound.number.desc())
    return await uow.session.scalar(query.limit(1))


async def latest_decision(uow: UnitOfWork, case: Case) -> Decision | None:
    query = select(Decision).where(Decision.case_id == case.id).order_by(Decision.id.desc())
    return await uow.session.scalar(query.limit(1))


async def _obligation(uow: UnitOfWork, case: Case, key: str) -> Obligation | None:
    return await uow.session.scalar(select(Obligation).where(Obligation.case_id == case.id, Obligation.key == key))


async def scope_for_action(
    uow: UnitOfWork, case: Case, person: Person | None, action: Action, address: str
) -> Scope | None:
    """The scope a message's action stands for right now, or None if it has no link page. Only the
    referrer, who is on no roster, gets a link without a person."""
    purpose = PURPOSE_OF_ACTION.get(action.id)
    if purpose is None or (person is None) != (purpose is Purpose.REFERRER):
        return None
    base = dict(purpose=purpose, case=case, person_id=person.id if person else None, address=address)
    if purpose in (Purpose.VOTE, Purpose.CONSULTATION, Purpose.REFERRER):
        rnd = await latest_round(uow, case)
        return Scope(**base, round_id=rnd.id) if rnd else None
    if purpose is Purpose.SCRUTINY:
        decision = await latest_decision(uow, case)
        return Scope(**base, decision_id=decision.id) if decision else None
    key = "notification" if purpose is Purpose.NOTIFICATION else split_action_value(action.value)[1][0]
    ob = await _obligation(uow, case, key)
    return Scope(**base, obligation_id=ob.id) if ob else None


async def attach_links(uow: UnitOfWork, env: Env, rows: list[OutboxMessage]) -> None:
    """Give each e-mail a flow queued in this transaction a link for each thing it asks its roster
    person to do. The stored message keeps the link's id only (`fill_urls` makes the URL when it is
    sent), so the outbox holds nothing that opens a page. Runs at the end of the flow (`Service`), in
    its transaction."""
    for row in rows:
        person = env.cfg.person(row.person_id) if row.person_id else None
        case = await uow.session.get(Case, row.case_id) if row.case_id else None
        if case is None or (row.person_id and person is None):
            continue
        message = Message.model_validate(row.payload)
        ids: dict[Purpose, int | None] = {}
        for action in message.actions:
            scope = await scope_for_action(uow, case, person, action, row.address)
            if scope is None:
                continue
            if scope.purpose not in ids:
                ids[scope.purpose] = await _live_link(uow, env, scope)
            action.link = ids[scope.purpose]
        if any(ids.values()):
            row.payload = message.model_dump(mode="json")


async def _live_link(uow: UnitOfWork, env: Env, scope: Scope) -> int | None:
    issued = await issue(uow, env, scope)
    state, _ = await check(uow, env, issued.link, scope.case)
    return issued.link.id if state is LinkState.LIVE else None


async def fill_urls(uow: UnitOfWork, env: Env, message: Message) -> Message:
    """The message with each link id turned into its URL, re-derived from the link's salt under the
    server's key. A link made under an earlier key cannot be re-derived: its action goes without a URL
    (the mail then asks for a reply, as before links)."""
    if not any(a.link for a in message.actions):
        return message
    message = message.model_copy(deep=True)
    for action in message.actions:
        link = await uow.session.get(Link, action.link) if action.link else None
        if link is None:
            continue
        token = make_token(env.link_key, link.salt)
        case = await uow.session.get(Case, link.case_id)
        if case is not None and token_hash(token) == link.token_hash:
            action.url = link_url(env, case.ref, token)
    return message


# --- checking ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resolved:
    state: LinkState
    reason: str
    link: Link | None = None
    case: Case | None = None
    person: Person | None = None

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.state]


async def resolve(uow: UnitOfWork, env: Env, ref: str, token: str, lock: bool = False) -> Resolved:
    """What a URL's token opens. Nothing about the case is in the answer unless the link is live."""
    token = token.strip()
    if not TOKEN_SHAPE.match(token):
        return Resolved(LinkState.TAMPERED, "The link is incomplete or has been changed.")
    query = select(Link).where(Link.token_hash == token_hash(token))
    if lock:
        query = query.with_for_update()
    link = await uow.session.scalar(query)
    if link is None:
        if signed_by(env.link_key, token):
            return Resolved(LinkState.UNKNOWN, "There is no such link (any more).")
        return Resolved(LinkState.TAMPERED, "The link is incomplete or has been changed.")
    case = await uow.session.get(Case, link.case_id)
    assert case is not None
    if case.ref != ref.strip().upper():
        return Resolved(LinkState.WRONG_CASE, "The link does not belong to the case in the address.")
    state, reason = await check(uow, env, link, case)
    person = env.cfg.person(link.person_id) if link.person_id else None
    if state is not LinkState.LIVE:
        return Resolved(state, reason, link)
    return Resolved(state, reason, link, case, person)


async def check(uow: UnitOfWork, env: Env, link: Link, case: Case) -> tuple[LinkState, str]:
    if link.revoked_at is not None:
        return LinkState.REVOKED, "The Business Manager has withdrawn this link."
    if link.expires_at <= env.now():
        return LinkState.EXPIRED, "The link has expired."
    purpose = Purpose(link.purpose)
    if link.uses and purpose not in REUSABLE:
        return LinkState.USED, "The link has been used, and works only once."
    if link.person_id is not None and not _still_holds(env, purpose, link.person_id):
        return LinkState.CLOSED, "The link's holder is no longer on the partnership's list for this."
    gone = await _purpose_gone(uow, link, purpose, case)
    if gone:
        return LinkState.CLOSED, gone
    return LinkState.LIVE, ""


def _still_holds(env: Env, purpose: Purpose, person_id: str) -> bool:
    person = env.cfg.person(person_id)
    if person is None:
        return False
    if purpose is Purpose.VOTE:
        return person.may_vote
    roles = ROLES.get(purpose)
    return roles is None or any(person.has(r) for r in roles)


async def _purpose_gone(uow: UnitOfWork, link: Link, purpose: Purpose, case: Case) -> str | None:
    """Why the thing the link was for can no longer be done, or None if it still can."""
    if purpose in (Purpose.VOTE, Purpose.CONSULTATION, Purpose.REFERRER):
        rnd = await uow.session.get(ScreeningRound, link.round_id)
        latest = await latest_round(uow, case)
        if rnd is None or latest is None or latest.id != rnd.id:
            return "A later round of voting has started; use the link in its e-mail."
        if purpose is Purpose.VOTE and rnd.state in (RoundState.DECIDED, RoundState.CLOSED):
            return "The panel has decided, so votes are closed."
        if purpose is Purpose.CONSULTATION and rnd.state != RoundState.DEADLOCK:
            return "The round is no longer waiting for a consultation outcome."
        if purpose is Purpose.REFERRER and case.status != CaseStatus.AWAITING_REFERRER:
            return "The panel is no longer waiting for an answer."
        return None
    if purpose is Purpose.SCRUTINY:
        decision = await latest_decision(uow, case)
        return None if decision and decision.id == link.decision_id else "There is a newer decision on this case."
    ob = await uow.session.get(Obligation, link.obligation_id)
    if ob is None or ob.state != ObligationState.OPEN:
        return "This has already been recorded as done."
    if purpose is Purpose.NOTIFICATION:
        decision = await latest_decision(uow, case)
        if decision is None or not decision.notifiable:
            return "The panel has not found the incident notifiable, so there is nothing to notify."
    return None


# --- acting --------------------------------------------------------------------------------


class LinkDead(FlowError):
    """The link cannot be used: `state` says why, for a 404 or 410 page."""

    code = "link_dead"

    def __init__(self, resolved: Resolved) -> None:
        super().__init__(resolved.reason, state=resolved.state.value)
        self.resolved = resolved


class PurposeMismatch(FlowError):
    code = "purpose_mismatch"


class ActThroughLink(BaseModel):
    """A form posted to a link's page. `fields` are the form's own fields, checked by the purpose's
    command; who acts comes from the link, never from the form."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: Ref
    token: str
    purpose: str
    fields: dict[str, Any] = {}
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Acted:
    link_id: int
    purpose: Purpose
    ref: str
    recorded: list[Fact]
    confirmation_to: str


async def act(cmd: ActThroughLink, uow: UnitOfWork, env: Env) -> Acted:
    resolved = await resolve(uow, env, cmd.ref, cmd.token, lock=True)
    if resolved.state is not LinkState.LIVE:
        raise LinkDead(resolved)
    link, case = resolved.link, resolved.case
    assert link is not None and case is not None
    purpose = Purpose(link.purpose)
    if cmd.purpose != purpose.value:
        raise PurposeMismatch(f"This link is for {PURPOSE_LABELS[purpose]}, not for anything else.")
    recorded = await _run(uow, env, link, case, purpose, cmd.fields)
    link.uses += 1
    link.used_at = env.now()
    actor = link.person_id or "referrer"
    audit(
        uow,
        env,
        actor,
        "link_used",
        case,
        link=link.id,
        purpose=purpose.value,
        ip=cmd.ip,
        user_agent=(cmd.user_agent or "")[:300],
    )
    to = _confirm(uow, env, link, case, purpose, recorded)
    return Acted(link.id, purpose, case.ref, recorded, to)


async def _run(
    uow: UnitOfWork, env: Env, link: Link, case: Case, purpose: Purpose, fields: dict[str, Any]
) -> list[Fact]:
    """Run the purpose's own flow as the link's person; return what was recorded, as facts."""
    by = link.person_id or ""
    if purpose is Purpose.VOTE:
        vote_cmd = _command(CastVote, by, case, fields)
        result = await panel.cast_vote(vote_cmd, uow, env)
        facts = [
            Fact(label="Pathway", value=PATHWAY_LABELS[vote_cmd.pathway]),
            Fact(label="Notifiable to the National Panel", value=yes_no(vote_cmd.notifiable)),
            Fact(label="Rationale", value=vote_cmd.rationale),
        ]
        if result.decision is not None:
            facts.append(Fact(label="Panel", value=f"decided: {PATHWAY_LABELS[Pathway(result.decision.pathway)]}"))
        return facts
    if purpose is Purpose.SCRUTINY:
        scrutiny_cmd = _command(RecordScrutiny, by, case, fields)
        await panel.record_scrutiny(scrutiny_cmd, uow, env)
        return [Fact(label="Your view", value=scrutiny_cmd.verdict.capitalize())] + (
            [Fact(label="Comment", value=scrutiny_cmd.comment)] if scrutiny_cmd.comment else []
        )
    if purpose is Purpose.CONSULTATION:
        consult_cmd = _command(RecordConsultation, by, case, fields)
        await panel.record_consultation(consult_cmd, uow, env)
        return [
            Fact(label="Pathway", value=PATHWAY_LABELS[consult_cmd.pathway]),
            Fact(label="Notifiable to the National Panel", value=yes_no(consult_cmd.notifiable)),
        ]
    if purpose is Purpose.NOTIFICATION:
        await panel.record_notification_sent(_command(RecordNotificationSent, by, case, {}), uow, env)
        return [Fact(label="National Panel notified", value=env.local(env.now()))]
    if purpose is Purpose.MILESTONE:
        ob = await uow.session.get(Obligation, link.obligation_id)
        if ob is None:
            raise NotFound("The task this link was for no longer exists.")
        done = _command(MarkDone, by, case, {"key": ob.key, "note": fields.get("note") or None})
        await plan.mark_done(done, uow, env)
        return [Fact(label="Done", value=ob.what)]
    if purpose is Purpose.REFERRER:
        return await _referrer_answers(uow, env, link, case, fields)
    raise Conflict(f"Links for {purpose.value} cannot act yet.")


async def _referrer_answers(uow: UnitOfWork, env: Env, link: Link, case: Case, fields: dict[str, Any]) -> list[Fact]:
    answer = _command(ReferrerAnswer, "referrer", case, fields)
    await refuse_part_a(uow, env, case, text=answer.text)  # it goes on to the Business Manager's chat
    rnd = await uow.session.get(ScreeningRound, link.round_id)
    assert rnd is not None
    referrer.answer_received(uow, env, case, rnd, answer.text)
    if env.cfg.process.referrer_answer_opens_round:
        await panel.open_round_after_answer(uow, env, case, answer.text, "referrer")
    return [Fact(label="Your answer", value=answer.text)]


class ReferrerAnswer(Command):
    ref: Ref
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=10000)]


def _command(model: type[Command], by: str, case: Case, fields: dict[str, Any]) -> Any:
    """The purpose's command from the form (strings, as a browser sends them: `yes`/`no`, empty for
    nothing); a ValidationError goes back to the form beside its field."""
    data = {k: v.strip() if isinstance(v, str) else v for k, v in fields.items() if k not in ("by", "ref")}
    data = {k: v for k, v in data.items() if v not in (None, "")}
    if isinstance(data.get("notifiable"), str):
        answer = {"yes": True, "true": True, "no": False, "false": False}.get(data["notifiable"].lower())
        data["notifiable"] = answer if answer is not None else data["notifiable"]
    return model.model_validate({**data, "by": by, "ref": case.ref})


PURPOSE_LABELS = {
    Purpose.VOTE: "your agency's screening vote",
    Purpose.SCRUTINY: "your view on the screening outcome",
    Purpose.CONSULTATION: "the consultation outcome",
    Purpose.NOTIFICATION: "recording that the National Panel was notified",
    Purpose.MILESTONE: "marking a task done",
    Purpose.REFERRER: "answering the panel's questions",
}


def _confirm(uow: UnitOfWork, env: Env, link: Link, case: Case, purpose: Purpose, recorded: list[Fact]) -> str:
    """An e-mail to the link's address after each action: what was recorded, and who to tell if it was
    not them."""
    bm = business_manager(env)
    message = Message(
        kind="link_confirmation",
        ref=case.ref,
        title=f"{case.ref}: recorded — {PURPOSE_LABELS[purpose]}",
        text=(
            f"This is what panelbot recorded through your link at {env.local(env.now())}. If this was not you, "
            f"tell the Business Manager at once{f' ({bm})' if bm else ''}."
        ),
        facts=[Fact(label="Case", value=case.ref), *recorded],
    )
    post_email(uow, env, link.address, message, f"link_confirmation:{link.id}:{link.uses}", case)
    return link.address


def business_manager(env: Env) -> str | None:
    bms = env.cfg.holders(Role.BUSINESS_MANAGER)
    return ", ".join(f"{p.name}, {p.email}" for p in bms) or None


# --- revoking ------------------------------------------------------------------------------


class RevokeLinks(Command):
    """The Business Manager withdraws a case's live links: all of them, or one person's."""

    ref: Ref
    person: str | None = None


async def revoke_links(cmd: RevokeLinks, uow: UnitOfWork, env: Env) -> int:
    bm = person_or_refuse(env, cmd.by)
    require_role(bm, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref)
    query = select(Link).where(Link.case_id == case.id, Link.revoked_at.is_(None), Link.expires_at > env.now())
    if cmd.person:
        query = query.where(Link.person_id == cmd.person)
    links = list(await uow.session.scalars(query))
    for link in links:
        link.revoked_at, link.revoked_by = env.now(), bm.id
    audit(uow, env, bm.id, "links_revoked", case, links=[lk.id for lk in links], person=cmd.person)
    return len(links)


def validation_errors(exc: ValidationError) -> dict[str, str]:
    return field_errors(exc)


# --- what a link's page shows ---------------------------------------------------------------

DEAD_TITLES = {
    LinkState.UNKNOWN: "This link is not recognised",
    LinkState.TAMPERED: "This link is incomplete or has been changed",
    LinkState.WRONG_CASE: "This link does not match the case in the address",
    LinkState.EXPIRED: "This link has expired",
    LinkState.REVOKED: "This link has been withdrawn",
    LinkState.USED: "This link has already been used",
    LinkState.CLOSED: "This link is no longer needed",
}
DEAD_ADVICE = {
    LinkState.TAMPERED: "Copy the whole link from the e-mail into the address bar; mail programs can break long links.",
    LinkState.UNKNOWN: "Use the link in the most recent e-mail you had from panelbot.",
    LinkState.WRONG_CASE: "Use the link exactly as it is in the e-mail.",
    LinkState.EXPIRED: "Links work for a few working days. If you still need to act, ask for a new one.",
    LinkState.REVOKED: "If you still need to act, ask for a new one.",
    LinkState.USED: "What you recorded stands; the confirmation e-mail has the details.",
    LinkState.CLOSED: "Nothing more is needed from you through this link.",
}


@dataclass(frozen=True)
class LinkPage:
    """A link's page, for any front to render. A dead link's page has only `state`, `title`,
    `reason`, `advice` and `contact`: nothing about the case."""

    state: LinkState
    title: str
    reason: str
    contact: str | None
    advice: str = ""
    purpose: Purpose | None = None
    ref: str | None = None
    who: str = ""
    summary: str = ""
    facts: list[Fact] = dataclass_field(default_factory=list)
    current: list[Fact] = dataclass_field(default_factory=list)  # what stands now (their agency's vote)
    values: dict[str, str] = dataclass_field(default_factory=dict)  # the form, filled in with what stands

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.state]


def dead_page(env: Env, resolved: Resolved) -> LinkPage:
    return LinkPage(
        resolved.state,
        DEAD_TITLES[resolved.state],
        resolved.reason,
        business_manager(env),
        DEAD_ADVICE[resolved.state],
    )


async def link_page(uow: UnitOfWork, env: Env, ref: str, token: str) -> LinkPage:
    """Read only: opening a link (a person, or a mail scanner before them) changes nothing."""
    resolved = await resolve(uow, env, ref, token)
    if resolved.state is not LinkState.LIVE:
        return dead_page(env, resolved)
    link, case = resolved.link, resolved.case
    assert link is not None and case is not None
    purpose = Purpose(link.purpose)
    name = resolved.person.name if resolved.person else (case.referrer_name or "the referrer")
    base = dict(
        state=LinkState.LIVE,
        reason="",
        contact=business_manager(env),
        purpose=purpose,
        ref=case.ref,
        summary=case.panel_summary,
    )
    if purpose is Purpose.VOTE:
        return await _vote_page(uow, env, case, link, resolved.person, base)
    if purpose is Purpose.SCRUTINY:
        decision = await uow.session.get(Decision, link.decision_id)
        assert decision is not None
        facts = [
            Fact(label="Pathway decided", value=PATHWAY_LABELS[Pathway(decision.pathway)]),
            Fact(label="Notifiable to the National Panel", value=yes_no(decision.notifiable)),
            Fact(label="Decided", value=f"{env.local(decision.decided_at)} by {decision.method}"),
        ]
        title = f"{case.ref}: concur or disagree with the screening outcome"
        return LinkPage(**base, title=title, who=f"You are giving your view as {name}.", facts=facts)
    if purpose is Purpose.CONSULTATION:
        title = f"{case.ref}: record the consultation outcome"
        return LinkPage(**base, title=title, who=f"You are recording the outcome as {name}.")
    if purpose is Purpose.NOTIFICATION:
        title = f"{case.ref}: the National Panel has been notified"
        facts = [Fact(label="Notification due", value=env.local(case.notification_due))]
        who = f"You are recording that the National Panel was notified, as {name}."
        return LinkPage(**base, title=title, who=who, facts=facts)
    if purpose is Purpose.REFERRER:
        rnd = await uow.session.get(ScreeningRound, link.round_id)
        asked = await referrer.questions_asked(uow, case, rnd) if rnd else []
        facts = [Fact(label="Question", value=q) for q in asked]
        who = f"You are answering as the referrer, {name}."
        base["summary"] = ""  # the panel's summary is for the panel
        return LinkPage(**base, title=f"{case.ref}: the panel's questions", who=who, facts=facts)
    ob = await uow.session.get(Obligation, link.obligation_id)
    what = ob.what if ob else "this task"
    facts = [Fact(label="Due", value=env.local(ob.due_at))] if ob else []
    return LinkPage(
        **base, title=f"{case.ref}: mark done", who=f"You are marking “{what}” done, as {name}.", facts=facts
    )


async def _vote_page(
    uow: UnitOfWork, env: Env, case: Case, link: Link, person: Person | None, base: dict[str, Any]
) -> LinkPage:
    assert person is not None and person.agency is not None
    agency = env.cfg.agencies[person.agency].name
    rnd = await uow.session.get(ScreeningRound, link.round_id)
    assert rnd is not None
    facts = [Fact(label="Screening decision due", value=env.local(case.screening_due))]
    if rnd.number > 1:
        facts.append(Fact(label="Round", value=f"{rnd.number} (after the referrer's answer)"))
    standing = await uow.session.scalar(select(Vote).where(Vote.round_id == rnd.id, Vote.agency == person.agency))
    current: list[Fact] = []
    values: dict[str, str] = {}
    if standing is not None:
        voter, when = env.cfg.person(standing.person_id), env.local(standing.cast_at)
        current = [
            Fact(label="Pathway", value=PATHWAY_LABELS[Pathway(standing.pathway)]),
            Fact(label="Notifiable to the National Panel", value=yes_no(standing.notifiable)),
            Fact(label="Voted by", value=f"{voter.name if voter else standing.person_id}, {when}"),
            Fact(label="Rationale", value=standing.rationale),
        ]
        values = {
            "pathway": standing.pathway,
            "notifiable": "yes" if standing.notifiable else "no",
            "rationale": standing.rationale,
            "abuse_nature": standing.abuse_nature or "",
            "harm_basis": standing.harm_basis or "",
        }
    title = f"{case.ref}: {'change ' if standing else ''}{agency}'s screening vote"
    who = f"You are voting for {agency} as {person.name}."
    return LinkPage(**base, title=title, who=who, facts=facts, current=current, values=values)


# --- fresh links for the operator (`panelbot case show REF --links`) -------------------------


async def open_scopes(uow: UnitOfWork, env: Env, case: Case) -> list[Scope]:
    """Every purpose still open on the case, for each person who may act on it."""
    scopes: list[Scope] = []

    def add(purpose: Purpose, people: list[Person], **ids: int) -> None:
        for p in people:
            scopes.append(Scope(purpose, case, p.id, p.email, **ids))

    rnd = await latest_round(uow, case)
    if rnd is not None and rnd.state in (RoundState.OPEN, RoundState.DEADLOCK):
        for agency in env.cfg.agencies:
            add(Purpose.VOTE, panel.vote_recipients(env, agency), round_id=rnd.id)
        if rnd.state == RoundState.DEADLOCK:
            chairs = env.cfg.holders(Role.EXECUTIVE_CHAIR) + env.cfg.holders(Role.INDEPENDENT_SCRUTINEER)
            add(Purpose.CONSULTATION, chairs, round_id=rnd.id)
    obligations = await plan.case_obligations(uow, case, ObligationState.OPEN)
    decision = await latest_decision(uow, case)
    for ob in obligations:
        if ob.kind == "scrutiny" and decision is not None and ob.key == f"scrutiny:{decision.id}":
            add(Purpose.SCRUTINY, env.cfg.holders(Role.INDEPENDENT_SCRUTINEER), decision_id=decision.id)
        elif ob.kind == "notification":
            add(Purpose.NOTIFICATION, env.cfg.holders(Role.LA_NOTIFIER), obligation_id=ob.id)
        elif ob.kind not in ("vote", "consultation", "scrutiny"):
            add(Purpose.MILESTONE, plan_owners(env, ob), obligation_id=ob.id)
    return scopes


class FreshLinks(Command):
    ref: Ref


@dataclass(frozen=True)
class FreshLink:
    purpose: Purpose
    person: str
    url: str
    expires_at: dt.datetime


async def fresh_links(cmd: FreshLinks, uow: UnitOfWork, env: Env) -> list[FreshLink]:
    """A new link for each open purpose and person, for the Business Manager to hand on or use."""
    bm = person_or_refuse(env, cmd.by)
    require_role(bm, Role.BUSINESS_MANAGER)
    case = await load_case(uow, cmd.ref)
    made = []
    for scope in await open_scopes(uow, env, case):
        issued = await issue(uow, env, scope, fresh=True)
        if (await check(uow, env, issued.link, case))[0] is LinkState.LIVE:
            made.append(FreshLink(scope.purpose, scope.person_id or scope.address, issued.url, issued.link.expires_at))
    audit(uow, env, bm.id, "links_printed", case, links=len(made))
    return made
