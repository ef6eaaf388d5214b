"""Messages about deadlines, platform-neutral: chases, escalations, milestones, the digest and
Rapid Review delays. Like the screening notices, they carry the case reference and what is owed,
never anything about the child."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bot.config import Person, Role
from bot.flows.commands import RECOMMENDATION_LABELS
from bot.flows.common import Env
from bot.flows.screening.notices import due_fact, vote_buttons
from bot.flows.timelines.obligations import AMBER, RED, deputies, may_act_for, owner_label, owners
from bot.messages import Action, ActionId, Fact, Message, action_value
from storage.models import Case, Decision, Obligation, RapidReviewOutcome

RAG_LABELS = {RED: "RED", AMBER: "AMBER", "green": "GREEN"}


def what(ob: Obligation) -> str:
    return f"Day {ob.plan_day}: {ob.what}" if ob.plan_day is not None else ob.what


def when(env: Env, due: dt.datetime) -> str:
    """`today`, `tomorrow` or the day, as of now; `overdue` once past."""
    now = env.now()
    if now > due:
        return "overdue"
    today, day = env.cal.local_date(now), env.cal.local_date(due)
    return f"due today, {env.local(due)[-5:]}" if day == today else f"due {env.local(due)}"


def done_button(case: Case, ob: Obligation) -> Action:
    return Action(id=ActionId.MILESTONE_DONE, label="Mark done", value=action_value(case.ref, ob.key), style="primary")


def actions_for(env: Env, case: Case, ob: Obligation, person: Person) -> list[Action]:
    """The buttons that let this person settle the obligation, if they may."""
    if ob.kind == "vote":
        can_vote = person.may_vote and person.agency == ob.owner_agency
        return vote_buttons(case.ref) if can_vote else []
    if ob.kind == "notification":
        allowed = person.has(Role.LA_NOTIFIER) or person.has(Role.BUSINESS_MANAGER)
        label = "Notification sent"
        return [Action(id=ActionId.NOTIFICATION_SENT, label=label, value=action_value(case.ref))] if allowed else []
    if ob.kind == "scrutiny":
        if not person.has(Role.INDEPENDENT_SCRUTINEER):
            return []
        return [
            Action(id=ActionId.CONCUR, label="Concur", value=action_value(case.ref), style="primary"),
            Action(id=ActionId.DISAGREE, label="Disagree", value=action_value(case.ref), style="danger"),
        ]
    if ob.kind == "consultation":
        if not (person.has(Role.EXECUTIVE_CHAIR) or person.has(Role.INDEPENDENT_SCRUTINEER)):
            return []
        return [Action(id=ActionId.CONSULTATION, label="Record consultation outcome", value=action_value(case.ref))]
    if ob.kind == "signoff":
        return signoff_buttons(case) if person.may_vote and person.agency == ob.owner_agency else []
    if not may_act_for(env, ob, person):
        return []
    if ob.kind == "milestone" and ob.owner_role == Role.RR_CHAIR.value and ob.plan_day == _write_up_day(env):
        return [outcome_button(case)]
    if ob.kind == "milestone" and ob.plan_day == max(m.day for m in env.cfg.process.rapid_review_plan):
        return [submission_button(case)] if person.has(Role.BUSINESS_MANAGER) else []
    return [done_button(case, ob)]


def _write_up_day(env: Env) -> int | None:
    days = [m.day for m in env.cfg.process.rapid_review_plan if m.owner is Role.RR_CHAIR and not m.per_agency]
    return max(days) if days else None


def outcome_button(case: Case) -> Action:
    return Action(id=ActionId.RECORD_OUTCOME, label="Record outcome", value=action_value(case.ref), style="primary")


def submission_button(case: Case) -> Action:
    value = action_value(case.ref)
    return Action(id=ActionId.SUBMISSION_RECORDED, label="Submission recorded", value=value, style="primary")


def signoff_buttons(case: Case) -> list[Action]:
    return [
        Action(id=ActionId.SIGNOFF_AGREE, label="Agree the report", value=action_value(case.ref), style="primary"),
        Action(id=ActionId.SIGNOFF_AMEND, label="Ask for amendments", value=action_value(case.ref)),
    ]


def obligation_facts(env: Env, case: Case, ob: Obligation) -> list[Fact]:
    return [
        Fact(label="Case", value=case.ref),
        Fact(label="What", value=what(ob)),
        Fact(label="Owed by", value=owner_label(env, ob)),
        due_fact(env, "Due", ob.due_at),
    ]


def chase(env: Env, case: Case, ob: Obligation, person: Person, kind: str) -> Message:
    """A rung of the chase ladder: `chase` before or on the day, `escalation` once overdue."""
    owes = person in owners(env, ob)
    if kind == "escalation":
        title = f"{case.ref}: overdue — {what(ob)}"
        if owes:
            text = "This was due and is not yet recorded as done. Please do it now, or tell the Business Manager."
        elif person in deputies(env, ob):
            text = "This is overdue for your agency. As a deputy, please make sure it is done."
        else:
            text = "This is overdue. It has been escalated to you as Business Manager."
    else:
        title = f"{case.ref}: reminder — {what(ob)} ({when(env, ob.due_at)})"
        text = "Please do this before it is due." if owes else "This is still owed."
    return Message(
        kind=kind,
        ref=case.ref,
        title=title,
        text=text,
        facts=obligation_facts(env, case, ob),
        actions=actions_for(env, case, ob, person),
    )


def milestone_due(env: Env, case: Case, person: Person, obs: list[Obligation]) -> Message:
    """A Rapid Review has started: the milestones this person owns, with their dates."""
    facts = [Fact(label="Case", value=case.ref)]
    if case.rapid_review_due is not None:
        label = "Rapid Review due (statutory)" if case.notified_at else "Rapid Review target (not notified)"
        facts.append(Fact(label=label, value=env.local_day(case.rapid_review_due)))
    facts += [Fact(label=what(ob), value=f"due {env.local(ob.due_at)}") for ob in obs]
    first = min(obs, key=lambda o: o.due_at)
    return Message(
        kind="milestone_due",
        ref=case.ref,
        title=f"{case.ref}: Rapid Review — your part, first due {env.local_day(first.due_at)}",
        text=(
            ("The National Panel has been notified" if case.notified_at else "The panel decided on a Rapid Review")
            + ", so the Rapid Review has started. These milestones are yours; press Mark done when each is "
            "complete. panelbot reminds you before each is due."
        ),
        facts=facts,
        actions=_unique([a for ob in obs for a in actions_for(env, case, ob, person)]),
    )


def _unique(actions: list[Action]) -> list[Action]:
    seen: set[tuple[str, str]] = set()
    out = []
    for a in actions:
        if (a.id, a.value) not in seen:
            seen.add((a.id, a.value))
            out.append(a)
    return out


@dataclass(frozen=True)
class DigestCase:
    """One open case in the digest."""

    ref: str
    rag: str
    next_due: dt.datetime
    next_what: str
    owes: list[str]  # "Owner label: what — when"
    note: str | None = None  # plan at risk, delay recorded


def digest(env: Env, day: dt.date, cases: list[DigestCase]) -> Message:
    counts = {r: sum(1 for c in cases if c.rag == r) for r in RAG_LABELS}
    summary = ", ".join(f"{n} {RAG_LABELS[r].lower()}" for r, n in counts.items() if n)
    facts = []
    for c in cases:
        lines = [f"Next: {c.next_what}, {env.local(c.next_due)}"]
        if c.note:
            lines.append(c.note)
        lines += [f"• {line}" for line in c.owes]
        facts.append(Fact(label=f"{c.ref} — {RAG_LABELS[c.rag]}", value="\n".join(lines)))
    return Message(
        kind="digest",
        ref=None,
        title=f"panelbot digest, {day.strftime('%a %d %b %Y')}: {len(cases)} open case{'s' if len(cases) != 1 else ''}",
        text=f"{summary}. Red: overdue. Amber: due today or the next working day, or the plan is at risk.",
        facts=facts,
    )


def delay_prompt(env: Env, case: Case, overdue: list[Obligation], left: int, need: int) -> Message:
    statutory = env.local_day(case.rapid_review_due) if case.rapid_review_due else "unknown"
    return Message(
        kind="delay_prompt",
        ref=case.ref,
        title=f"{case.ref}: the Rapid Review is at risk of missing {statutory}",
        text=(
            f"The plan has slipped: {left} working day{'s' if left != 1 else ''} left, the rest of the plan "
            f"needs {need}. If the review will be late, record a delay with its reason and expected date; "
            "panelbot then asks for the National Panel to be told."
        ),
        facts=[Fact(label="Case", value=case.ref), Fact(label="Statutory date", value=statutory)]
        + [Fact(label=f"Overdue: {what(ob)}", value=owner_label(env, ob)) for ob in overdue],
        actions=[Action(id=ActionId.RECORD_DELAY, label="Record delay", value=action_value(case.ref))],
    )


def delay_notice(env: Env, case: Case, ob: Obligation) -> Message:
    expected = case.delay_expected_on.strftime("%a %d %b %Y") if case.delay_expected_on else "not given"
    return Message(
        kind="delay_notice",
        ref=case.ref,
        title=f"{case.ref}: tell the National Panel the Rapid Review is delayed",
        text="Tell the Child Safeguarding Practice Review Panel the reason and the new date, then press Mark done.",
        facts=[
            Fact(label="Case", value=case.ref),
            Fact(label="Reason", value=case.delay_reason or ""),
            Fact(label="Expected", value=expected),
            due_fact(env, "Tell them by", ob.due_at),
        ],
        actions=[done_button(case, ob)],
    )


# --- after the Day 13 meeting: outcome, sign-off, submission, actions -------------------------


def outcome_facts(env: Env, case: Case, outcome: RapidReviewOutcome) -> list[Fact]:
    facts = [
        Fact(label="Case", value=case.ref),
        Fact(label="Recommendation", value=RECOMMENDATION_LABELS[outcome.recommendation]),
        Fact(label="Criteria for a local CSPR met", value="Yes" if outcome.cspr_criteria_met else "No"),
        Fact(label="May indicate wider system problems", value="Yes" if outcome.wider_system_issues else "No"),
        Fact(label="Immediate actions (needed and taken)", value=outcome.immediate_actions),
        Fact(label="Single-agency learning", value=outcome.single_agency_learning),
        Fact(label="Multi-agency learning", value=outcome.multi_agency_learning),
    ]
    if outcome.no_review_reason:
        facts.append(Fact(label="Why no review", value=outcome.no_review_reason))
    return facts


def signoff_request(env: Env, case: Case, outcome: RapidReviewOutcome, agency_name: str) -> Message:
    amended = f" (amended, version {outcome.version})" if outcome.version > 1 else ""
    return Message(
        kind="signoff_request",
        ref=case.ref,
        title=f"{case.ref}: please sign off the Rapid Review report for {agency_name}{amended}",
        text=(
            f"{outcome.summary}\n\nAll three statutory partners agree the report before it goes to the National "
            "Panel (003). Agree it, or ask for amendments; your agency's answer can change until all three agree."
        ),
        facts=outcome_facts(env, case, outcome),
        actions=signoff_buttons(case),
    )


def amendments_asked(env: Env, case: Case, agency: str, by: str, comment: str) -> Message:
    return Message(
        kind="signoff_amend",
        ref=case.ref,
        title=f"{case.ref}: {agency} asks for amendments to the Rapid Review report",
        text="Record the amended outcome when it is ready; the agencies that have not agreed are asked again.",
        facts=[
            Fact(label="Case", value=case.ref),
            Fact(label="Asked by", value=by),
            Fact(label="Amendments", value=comment),
        ],
        actions=[outcome_button(case)],
    )


def submission_due(env: Env, case: Case) -> Message:
    return Message(
        kind="submission_due",
        ref=case.ref,
        title=f"{case.ref}: all three partners agree the Rapid Review report",
        text="Submit it to the National Panel, then press Submission recorded.",
        facts=[Fact(label="Case", value=case.ref)],
        actions=[submission_button(case)],
    )


NEXT_STEPS = {
    "local_cspr": "A local child safeguarding practice review follows: the final report is due within 6 months of "
    "the decision, and the National Panel and Ofsted get a copy 7 working days before publication.",
    "national_review": "The National Panel decides whether to undertake a national review; the partnership "
    "supports it with the information it asks for.",
    "no_review": "No further review: the reasons were given to the National Panel. The actions arising are "
    "monitored to completion.",
}


def rr_outcome(
    env: Env, case: Case, outcome: RapidReviewOutcome, decision: Decision | None, actions: list[Obligation]
) -> Message:
    """To the DSPs and the Independent Scrutineer once the report is submitted: outcome, decision summary
    and next steps (003)."""
    sent = env.local(case.submitted_at) if case.submitted_at else "not recorded"
    where = "submitted to the National Panel" if case.notified_at else "completed (not notified)"
    facts = [
        Fact(label="Submitted" if case.notified_at else "Completed", value=sent),
        *outcome_facts(env, case, outcome),
    ]
    if decision is not None:
        facts.append(Fact(label="Screening decision", value=f"{decision.pathway.replace('_', ' ')}"))
    facts += [Fact(label=what(a), value=f"{owner_label(env, a)}, due {env.local_day(a.due_at)}") for a in actions]
    return Message(
        kind="rr_outcome",
        ref=case.ref,
        title=f"{case.ref}: the Rapid Review is {where}",
        text=f"{outcome.summary}\n\nNext steps: {NEXT_STEPS[outcome.recommendation]}",
        facts=facts,
    )


def action_assigned(env: Env, case: Case, ob: Obligation, person: Person) -> Message:
    return Message(
        kind="action_assigned",
        ref=case.ref,
        title=f"{case.ref}: an action for you — {ob.what}",
        text="Press Mark done with a note of the evidence when it is complete. panelbot reminds you before it is due.",
        facts=obligation_facts(env, case, ob),
        actions=actions_for(env, case, ob, person),
    )


def cspr_late(env: Env, case: Case, ob: Obligation, limit: dt.date) -> Message:
    return Message(
        kind="cspr_late",
        ref=case.ref,
        title=f"RED: {case.ref}: the local CSPR will be published after {limit.strftime('%d %b %Y')}",
        text=(
            "A local CSPR's final report is due within 6 months of the decision (003). Please send the National "
            "Panel the reasons for the delay."
        ),
        facts=obligation_facts(env, case, ob),
        actions=[done_button(case, ob)],
    )
