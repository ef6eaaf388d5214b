"""What a click or a form submission means, for every channel alike.

Slack and Teams handlers verify the request and map the platform identity to a roster id; then
they call `press` (a button with no form) or `submit` (a filled-in form) and show the `Reply`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from bot import forms
from bot.flows.commands import (
    CastVote,
    MarkDone,
    RecordComplaint,
    RecordConsultation,
    RecordCspr,
    RecordDelay,
    RecordNotificationSent,
    RecordOutcome,
    RecordReferrerAnswer,
    RecordScrutiny,
    RecordSubmission,
    RegisterReferral,
    SignOff,
    field_errors,
)
from bot.flows.common import Env, FlowError, Refused
from bot.flows.screening import panel
from bot.flows.screening.referrer import OpenAnsweredRound
from bot.flows.screening.tally import PATHWAY_LABELS, Pathway
from bot.flows.timelines import plan, review
from bot.messages import ActionId, split_action_value
from bot.service import Service
from bot.states import VoteStatus

log = logging.getLogger("panelbot")


@dataclass
class Reply:
    ok: bool
    text: str  # what the person is told
    errors: dict[str, str] = field(default_factory=dict)  # per form field, to show inline
    result: Any = None
    ref: str | None = None
    code: str | None = None  # why it failed: invalid | not_found | refused | conflict (`FlowError.code`)


# Which form a button opens; buttons not listed here act at once.
FORM_FOR_ACTION: dict[ActionId, forms.Form] = {
    ActionId.VOTE: forms.VOTE,
    ActionId.CHANGE_VOTE: forms.VOTE,
    ActionId.DISAGREE: forms.DISAGREE,
    ActionId.CONSULTATION: forms.CONSULTATION,
    ActionId.REFERRER_ANSWER: forms.REFERRER_ANSWER,
    ActionId.MILESTONE_DONE: forms.MILESTONE_DONE,
    ActionId.RECORD_DELAY: forms.DELAY,
    ActionId.RECORD_OUTCOME: forms.OUTCOME,
    ActionId.SIGNOFF_AMEND: forms.SIGNOFF_AMEND,
}


def form_for(action: ActionId | str) -> forms.Form | None:
    return FORM_FOR_ACTION.get(ActionId(action))


def preset_for(action: ActionId | str, value: str) -> dict[str, str]:
    """Values a form opens with: the pathway the voter clicked."""
    _, parts = split_action_value(value)
    if ActionId(action) is ActionId.VOTE and parts:
        return {"pathway": parts[0]}
    if ActionId(action) is ActionId.MILESTONE_DONE and parts:
        return {"key": parts[0]}  # not a form field: carried with the form, back to `_milestone_done`
    return {}


def yes_no(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    return {"yes": True, "true": True, "no": False, "false": False}.get(str(value).strip().lower())


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items() if v not in (None, "")}


Builder = Callable[[str, str, dict[str, Any]], BaseModel]
FlowFn = Callable[..., Awaitable[Any]]
Describe = Callable[[Env, Any], str]


def _vote(by: str, ref: str, v: dict[str, Any]) -> BaseModel:
    return CastVote(by=by, ref=ref, **{**v, "notifiable": yes_no(v.get("notifiable"))})


def _consultation(by: str, ref: str, v: dict[str, Any]) -> BaseModel:
    return RecordConsultation(by=by, ref=ref, **{**v, "notifiable": yes_no(v.get("notifiable"))})


def _referral(by: str, ref: str, v: dict[str, Any]) -> BaseModel:
    referrer = {k.removeprefix("referrer_"): v.pop(k) for k in list(v) if k.startswith("referrer_")}
    child = {k.removeprefix("child_"): v.pop(k) for k in list(v) if k.startswith("child_")}
    return RegisterReferral(by=by, referrer=referrer, child=child, **v)


def _outcome(by: str, ref: str, v: dict[str, Any]) -> BaseModel:
    flags = {k: yes_no(v.get(k)) for k in ("cspr_criteria_met", "wider_system_issues")}
    return RecordOutcome(by=by, ref=ref, **{**v, **flags})


def _describe_signoff(env: Env, row: Any) -> str:
    if row.verdict == "agree":
        return "Your agency's agreement to the report is recorded."
    return "Your request for amendments is recorded; the Rapid Review chair and the Business Manager are told."


def _milestone_done(by: str, ref: str, v: dict[str, Any]) -> BaseModel:
    """The key comes from the button's value `REF|key`: as a carried value, or in `ref` itself."""
    ref, parts = split_action_value(ref)
    key = v.pop("key", None) or (parts[0] if parts else "")
    return MarkDone(by=by, ref=ref, key=key, **v)


def _describe_vote(env: Env, result: panel.VoteResult) -> str:
    if result.status == VoteStatus.AFTER_DECISION:
        return f"{result.ref}: the panel had already decided. Your vote is recorded but does not change the outcome."
    if result.status == VoteStatus.UNCHANGED:
        return f"{result.ref}: that vote was already recorded; nothing changed."
    agency = env.cfg.agencies[result.agency].name if result.agency in env.cfg.agencies else result.agency
    tail = " The panel has now decided." if result.decision is not None else ""
    return f"{result.ref}: {agency}'s vote is {result.status}.{tail}"


def _describe_notification(env: Env, case: Any) -> str:
    due = env.local(case.rapid_review_due) if case.rapid_review_due else "not set"
    return f"{case.ref}: notification recorded. The Rapid Review is due by {due}."


@dataclass(frozen=True)
class Interaction:
    """One thing a person can do from any front: the command it builds from the person, the case
    and the form's values; the flow that carries it out; what the person is told afterwards."""

    build: Builder
    flow: FlowFn
    describe: Describe


# A filled-in form, by the form's name (`bot.forms`): what a submission does.
SUBMISSIONS: dict[str, Interaction] = {
    forms.VOTE.name: Interaction(_vote, panel.cast_vote, _describe_vote),
    forms.DISAGREE.name: Interaction(
        lambda by, ref, v: RecordScrutiny(by=by, ref=ref, verdict="disagree", **v),
        panel.record_scrutiny,
        lambda env, r: "Your disagreement is recorded; the Business Manager will arrange a meeting with the panel.",
    ),
    forms.SCRUTINY_RECORD.name: Interaction(
        lambda by, ref, v: RecordScrutiny(by=by, ref=ref, **v),
        panel.record_scrutiny,
        lambda env, r: (
            f"Recorded: {env.cfg.person(r.person_id).name if env.cfg.person(r.person_id) else r.person_id} "
            f"{'concurs with' if r.verdict == 'concur' else 'disagrees with'} the outcome."
        ),
    ),
    forms.CONSULTATION.name: Interaction(
        _consultation,
        panel.record_consultation,
        lambda env, d: f"Consultation outcome recorded: {PATHWAY_LABELS[Pathway(d.pathway)]}.",
    ),
    forms.REFERRER_ANSWER.name: Interaction(
        lambda by, ref, v: RecordReferrerAnswer(by=by, ref=ref, **v),
        panel.record_referrer_answer,
        lambda env, rnd: f"Answer recorded; voting round {rnd.number} is open.",
    ),
    forms.REFERRAL.name: Interaction(
        _referral, panel.register_referral, lambda env, case: f"Referral registered as {case.ref}."
    ),
    forms.PART_A.name: Interaction(
        _referral, panel.register_referral, lambda env, case: f"Referral registered as {case.ref}."
    ),
    forms.CSPR.name: Interaction(
        lambda by, ref, v: RecordCspr(by=by, ref=ref, **v),
        plan.record_cspr,
        lambda env, case: f"{case.ref}: the local CSPR's dates are recorded.",
    ),
    forms.COMPLAINT.name: Interaction(
        lambda by, ref, v: RecordComplaint(by=by, ref=ref, **v),
        plan.record_complaint,
        lambda env, ob: f"Complaint recorded: a written response is due by {env.local(ob.due_at)}.",
    ),
    forms.MILESTONE_DONE.name: Interaction(
        _milestone_done, plan.mark_done, lambda env, ob: f"Recorded as done: {ob.what}."
    ),
    forms.DELAY.name: Interaction(
        lambda by, ref, v: RecordDelay(by=by, ref=ref, **v),
        plan.record_delay,
        lambda env, ob: "Delay recorded. Please tell the National Panel the reason and the new date.",
    ),
    forms.OUTCOME.name: Interaction(
        _outcome,
        review.record_outcome,
        lambda env, o: f"Outcome recorded (version {o.version}); the three partners are asked to sign it off.",
    ),
    forms.SIGNOFF_AMEND.name: Interaction(
        lambda by, ref, v: SignOff(by=by, ref=ref, verdict="amend", **v), review.sign_off, _describe_signoff
    ),
}

# A button that acts at once, with no form.
PRESSES: dict[ActionId, Interaction] = {
    ActionId.CONCUR: Interaction(
        lambda by, ref, v: RecordScrutiny(by=by, ref=ref, verdict="concur"),
        panel.record_scrutiny,
        lambda env, r: "You concur with the outcome; this is recorded.",
    ),
    ActionId.NOTIFICATION_SENT: Interaction(
        lambda by, ref, v: RecordNotificationSent(by=by, ref=ref),
        panel.record_notification_sent,
        _describe_notification,
    ),
    ActionId.OPEN_ROUND: Interaction(
        lambda by, ref, v: OpenAnsweredRound(by=by, ref=ref),
        panel.open_answered_round,
        lambda env, rnd: f"Voting round {rnd.number} is open, with the referrer's answer.",
    ),
    ActionId.SIGNOFF_AGREE: Interaction(
        lambda by, ref, v: SignOff(by=by, ref=ref, verdict="agree"), review.sign_off, _describe_signoff
    ),
    ActionId.SUBMISSION_RECORDED: Interaction(
        lambda by, ref, v: RecordSubmission(by=by, ref=ref),
        review.record_submission,
        lambda env, case: f"{case.ref}: submission recorded; the DSPs and the scrutineer are told the outcome.",
    ),
}


@dataclass(frozen=True)
class Prepared:
    """A form's command, built and validated with no database: ready for `carry_out`."""

    interaction: Interaction
    command: BaseModel
    ref: str


# Values a form carries from the button that opened it, besides its own fields (a milestone's key).
# Whose it is and how it was given, when the Business Manager records it for someone (the flow checks
# that the sender is a Business Manager: a value smuggled in by anyone else is refused there).
BEHALF = frozenset({"on_behalf_of", "method"})
CARRIED: dict[str, frozenset[str]] = {
    forms.MILESTONE_DONE.name: frozenset({"key"}) | BEHALF,
    forms.VOTE.name: BEHALF,
    forms.SCRUTINY_RECORD.name: BEHALF,
}


def accepted_values(form_name: str, values: dict[str, Any]) -> dict[str, str]:
    """Only the form's own fields and what it carries, and only text: a value smuggled in under any
    other name (`by`, `ref`, …) or of another type is dropped, so it can never reach the command."""
    form = forms.ALL_FORMS[form_name]
    allowed = {f.name for f in form.fields} | CARRIED.get(form_name, frozenset())
    dropped = sorted(str(k) for k, v in values.items() if k not in allowed or not isinstance(v, str | None))
    if dropped:
        log.warning("form %s: ignored values %s", form_name, ", ".join(dropped)[:200])
    return {k: v for k, v in values.items() if k in allowed and isinstance(v, str)}


def prepare(form_name: str, person_id: str, ref: str, values: dict[str, Any]) -> Prepared | Reply:
    """Check a filled-in form without touching the database: the command to run, or a Reply with
    per-field errors (nothing is recorded). A front can answer at once on either, and run the flow after."""
    if form_name not in SUBMISSIONS:
        return Reply(False, "This form cannot be sent.", ref=ref)
    return _prepare(SUBMISSIONS[form_name], person_id, ref, _clean(accepted_values(form_name, values)))


async def carry_out(service: Service, prepared: Prepared) -> Reply:
    """Run a prepared command's flow: what only the flow can refuse (not on the roster for this, a
    round already closed) comes back as a Reply that is not ok."""
    interaction, ref = prepared.interaction, prepared.ref
    try:
        result = await service.run(interaction.flow, prepared.command)
    except FlowError as exc:
        field_name = exc.details.get("field")  # a flow's refusal about one field (free text naming the child)
        errors = {field_name: exc.message} if field_name else {}
        return Reply(False, exc.message, errors=errors, ref=ref, code=exc.code)
    return Reply(True, interaction.describe(service.env, result), result=result, ref=getattr(result, "ref", ref))


async def submit(service: Service, form_name: str, person_id: str, ref: str, values: dict[str, Any]) -> Reply:
    """A filled-in form. Invalid input comes back as per-field errors; nothing is recorded."""
    prepared = prepare(form_name, person_id, ref, values)
    return prepared if isinstance(prepared, Reply) else await carry_out(service, prepared)


async def press(service: Service, action: ActionId | str, person_id: str, value: str) -> Reply:
    """A button that acts at once (Concur, Notification sent)."""
    ref, _ = split_action_value(value)
    prepared = _prepare(PRESSES[ActionId(action)], person_id, ref, {})
    return prepared if isinstance(prepared, Reply) else await carry_out(service, prepared)


def _prepare(interaction: Interaction, person_id: str, ref: str, values: dict) -> Prepared | Reply:
    try:
        cmd = interaction.build(person_id, ref, values)
    except ValidationError as exc:
        errors = field_errors(exc)
        return Reply(False, "Please correct the highlighted fields.", errors=errors, ref=ref, code="invalid")
    return Prepared(interaction, cmd, ref)


STRANGER_TEXT = "You are not on this partnership's panel roster, so panelbot cannot act for you."
STRANGER_REPLY = Reply(False, STRANGER_TEXT + " Please contact the Business Manager.")


async def refuse_stranger(service: Service, platform: str, platform_id: str, what: str) -> Reply:
    """A platform user who is not on the roster: refused, told why (`STRANGER_REPLY`, which a front
    may show before this audit is written), audited."""
    await service.audit_refusal(
        Refused(STRANGER_TEXT, platform=platform, platform_id=platform_id), f"{platform}:{platform_id}", what
    )
    return STRANGER_REPLY
