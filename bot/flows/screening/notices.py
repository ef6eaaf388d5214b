"""The screening panel's messages, platform-neutral. Only the reference and the panel summary the
Business Manager wrote for sharing ever go into them: never the child's details from Part A."""

from __future__ import annotations

import datetime as dt

from bot.flows.commands import RECORD_METHODS
from bot.flows.common import Env
from bot.flows.screening.tally import PATHWAY_LABELS, Pathway
from bot.messages import Action, ActionId, Fact, Message, action_value
from storage.models import Case, Decision, ScreeningRound, Vote


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def due_fact(env: Env, label: str, due: dt.datetime) -> Fact:
    if env.now() > due:
        return Fact(label=label, value=f"{env.local(due)} (overdue)")
    return Fact(label=label, value=f"{env.local(due)} ({when_due(env.cal.working_days_left(env.now(), due))})")


def when_due(days_left: int) -> str:
    """`working_days_left` counts today; people count from tomorrow."""
    if days_left <= 1:
        return "due today"
    if days_left == 2:
        return "due next working day"
    return f"due in {days_left - 1} working days"


def case_facts(env: Env, case: Case, rnd: ScreeningRound | None = None) -> list[Fact]:
    facts = [
        Fact(label="Case", value=case.ref),
        Fact(label="Received", value=env.local(case.received_at)),
        due_fact(env, "Screening decision due", case.screening_due),
    ]
    if rnd is not None and rnd.number > 1:
        facts.append(Fact(label="Round", value=f"{rnd.number} (after the referrer's answer)"))
    return facts


def vote_buttons(ref: str) -> list[Action]:
    return [
        Action(
            id=ActionId.VOTE,
            label=PATHWAY_LABELS[p],
            value=action_value(ref, p.value),
            style="primary" if p is Pathway.RAPID_REVIEW else None,
        )
        for p in Pathway
    ]


def vote_request(env: Env, case: Case, rnd: ScreeningRound, agency_name: str) -> Message:
    return Message(
        kind="vote_request",
        ref=case.ref,
        title=f"Screening panel: {case.ref} needs {agency_name}'s vote",
        text=case.panel_summary,
        facts=case_facts(env, case, rnd),
        actions=vote_buttons(case.ref),
    )


def vote_facts(env: Env, vote: Vote, voter_name: str) -> list[Fact]:
    facts = [
        Fact(label="Pathway", value=PATHWAY_LABELS[Pathway(vote.pathway)]),
        Fact(label="Notifiable to the National Panel", value=yes_no(vote.notifiable)),
        Fact(label="Voted by", value=f"{voter_name}, {env.local(vote.cast_at)}"),
        Fact(label="Rationale", value=vote.rationale),
    ]
    if vote.abuse_nature:
        facts.append(Fact(label="Nature of abuse or neglect", value=vote.abuse_nature))
    if vote.harm_basis:
        facts.append(Fact(label="Serious-harm criteria", value=vote.harm_basis))
    return facts


def vote_recorded(env: Env, case: Case, vote: Vote, agency_name: str, voter_name: str, can_change: bool) -> Message:
    actions = [Action(id=ActionId.CHANGE_VOTE, label="Change vote", value=action_value(case.ref))] if can_change else []
    return Message(
        kind="vote_recorded",
        ref=case.ref,
        title=f"{case.ref}: {agency_name}'s vote is recorded",
        text="You can change it while the panel has not decided." if can_change else "",
        facts=case_facts(env, case) + vote_facts(env, vote, voter_name),
        actions=actions,
    )


def late_vote(env: Env, case: Case, decision: Decision) -> Message:
    return Message(
        kind="late_vote",
        ref=case.ref,
        title=f"{case.ref}: the panel had already decided",
        text="Your vote is recorded, but it arrived after the decision and does not change it.",
        facts=decision_facts(env, decision),
    )


def decision_facts(env: Env, decision: Decision) -> list[Fact]:
    return [
        Fact(label="Pathway", value=PATHWAY_LABELS[Pathway(decision.pathway)]),
        Fact(label="Notifiable to the National Panel", value=yes_no(decision.notifiable)),
        Fact(label="Decided", value=f"{env.local(decision.decided_at)} by {decision.method}"),
    ]


def decision_notice(env: Env, case: Case, decision: Decision, for_scrutiny: bool) -> Message:
    actions = []
    if for_scrutiny:
        actions = [
            Action(id=ActionId.CONCUR, label="Concur", value=action_value(case.ref), style="primary"),
            Action(id=ActionId.DISAGREE, label="Disagree", value=action_value(case.ref), style="danger"),
        ]
    text = case.panel_summary
    if decision.notifiable and decision.pathway not in (Pathway.RAPID_REVIEW.value, Pathway.QUERY_REFERRER.value):
        pathway = PATHWAY_LABELS[Pathway(decision.pathway)]
        text += (
            f"\n\nNote: the panel found this incident notifiable but chose {pathway}. A notified incident must "
            "have a Rapid Review within 15 working days of the notification: recording the notification opens "
            "the Rapid Review plan."
        )
    return Message(
        kind="decision",
        ref=case.ref,
        title=f"{case.ref}: the screening panel has decided",
        text=text,
        facts=case_facts(env, case) + decision_facts(env, decision),
        actions=actions,
    )


def round_closed(env: Env, case: Case, decision: Decision) -> Message:
    """Replaces a vote request once the round is decided: no more vote buttons."""
    return Message(
        kind="vote_closed",
        ref=case.ref,
        title=f"{case.ref}: voting has closed",
        text=case.panel_summary,
        facts=case_facts(env, case) + decision_facts(env, decision),
    )


def referrer_outcome(env: Env, case: Case, decision: Decision, partnership: str) -> Message:
    """The e-mail to the referrer: the outcome and the reference, nothing about the child."""
    return Message(
        kind="referrer_outcome",
        ref=case.ref,
        title=f"{partnership}: outcome of referral {case.ref}",
        text=(
            "Thank you for your referral. The screening panel of the three statutory safeguarding "
            f"partners has considered it. Outcome: {PATHWAY_LABELS[Pathway(decision.pathway)]}. "
            "The Business Manager will contact you about any next steps. Please quote the reference "
            "in any reply; do not reply with personal details by e-mail."
        ),
        facts=[
            Fact(label="Reference", value=case.ref),
            Fact(label="Decided", value=env.local_day(decision.decided_at)),
        ],
    )


def deadlock_notice(env: Env, case: Case, reason: str, for_chair: bool) -> Message:
    actions = (
        [Action(id=ActionId.CONSULTATION, label="Record consultation outcome", value=action_value(case.ref))]
        if for_chair
        else []
    )
    return Message(
        kind="deadlock",
        ref=case.ref,
        title=f"{case.ref}: the screening panel has no majority",
        text=(
            f"The panel could not reach a decision: {reason}. The Executive Chair / Independent "
            "Scrutineer is consulted; panel members may still change their vote."
        ),
        facts=case_facts(env, case),
        actions=actions,
    )


def consultation_withdrawn(env: Env, case: Case, decision: Decision) -> Message:
    return Message(
        kind="consultation_withdrawn",
        ref=case.ref,
        title=f"{case.ref}: no consultation needed any more",
        text=(
            "The screening panel was deadlocked, but a changed or late vote has since given it a decision. "
            "The consultation outcome you were asked for is no longer needed."
        ),
        facts=case_facts(env, case) + decision_facts(env, decision),
    )


def panel_convened(env: Env, case: Case, rnd: ScreeningRound, voters: list[str]) -> Message:
    return Message(
        kind="panel_convened",
        ref=case.ref,
        title=f"{case.ref}: screening panel convened (round {rnd.number})",
        text=case.panel_summary,
        facts=[*case_facts(env, case, rnd), Fact(label="Vote requests sent to", value=", ".join(voters))],
    )


def referrer_query(env: Env, case: Case, questions: list[str], sent: bool = False) -> Message:
    text = "Please put these to the referrer, then record their answer to open a new round of voting."
    if sent:
        text = (
            "They went to the referrer by e-mail with a link to answer; their answer will come to you. If they "
            "answer another way, record it to open a new round of voting."
        )
    return Message(
        kind="referrer_query",
        ref=case.ref,
        title=f"{case.ref}: the panel has questions for the referrer",
        text=text,
        facts=case_facts(env, case) + [Fact(label="Question", value=q) for q in questions],
        actions=[Action(id=ActionId.REFERRER_ANSWER, label="Record referrer answer", value=action_value(case.ref))],
    )


def scrutiny_disagreement(env: Env, case: Case, scrutineer: str, comment: str) -> Message:
    return Message(
        kind="scrutiny_disagreement",
        ref=case.ref,
        title=f"{case.ref}: the Independent Scrutineer disagrees with the outcome",
        text="Please arrange a meeting of the screening panel with the scrutineer to discuss its rationale.",
        facts=[
            *case_facts(env, case),
            Fact(label="Scrutineer", value=scrutineer),
            Fact(label="Comment", value=comment),
        ],
    )


def notification_due(env: Env, case: Case) -> Message:
    return Message(
        kind="notification_due",
        ref=case.ref,
        title=f"{case.ref}: notify the National Panel",
        text=(
            "The screening panel found this incident notifiable. Notify the Child Safeguarding Practice "
            "Review Panel through the online notification system, then press Notification sent."
        ),
        facts=[Fact(label="Case", value=case.ref), due_fact(env, "Notification due", case.notification_due)],
        actions=[
            Action(
                id=ActionId.NOTIFICATION_SENT, label="Notification sent", value=action_value(case.ref), style="primary"
            )
        ],
    )


def notification_at_risk(env: Env, case: Case) -> Message:
    """Red: the referral arrived with the notification date (5 working days of becoming aware) past or
    within one working day."""
    aware = env.local(case.aware_at) if case.aware_at else env.local(case.received_at)
    state = "has passed" if env.now() > case.notification_due else "is within one working day"
    return Message(
        kind="notification_at_risk",
        ref=case.ref,
        title=f"RED: {case.ref}: the National Panel notification date {state}",
        text=(
            f"The partnership became aware of this incident on {aware}. If the screening panel finds it "
            "notifiable, the LA must notify the National Panel within 5 working days of becoming aware: "
            "please convene the panel and prepare the notification now."
        ),
        facts=[
            Fact(label="Case", value=case.ref),
            Fact(label="Aware", value=aware),
            Fact(label="Received", value=env.local(case.received_at)),
            due_fact(env, "Notification due", case.notification_due),
        ],
    )


def notification_recorded(env: Env, case: Case, by_name: str) -> Message:
    notified = env.local(case.notified_at) if case.notified_at else "not recorded"
    facts = [Fact(label="Case", value=case.ref), Fact(label="Notified", value=f"{notified} by {by_name}")]
    if case.rapid_review_due is not None:
        facts.append(Fact(label="Rapid Review due", value=env.local_day(case.rapid_review_due)))
    return Message(
        kind="notification_recorded", ref=case.ref, title=f"{case.ref}: National Panel notified", facts=facts
    )


def reconsideration_opened(env: Env, case: Case, rnd: ScreeningRound, reason: str, source: str) -> Message:
    why = (
        "The National Panel asked the partnership to reconsider"
        if source == "national_panel"
        else ("New information has emerged")
    )
    return Message(
        kind="reconsideration_opened",
        ref=case.ref,
        title=f"{case.ref}: screening reopened for reconsideration (round {rnd.number})",
        text=(
            f"{why}. The panel votes again; you will see the new outcome for your view, and its outcome is "
            "reported back to the National Panel."
        ),
        facts=[*case_facts(env, case, rnd), Fact(label="Reason", value=reason)],
    )


def scrutiny_view(env: Env, case: Case, scrutineer: str, comment: str | None) -> Message:
    return Message(
        kind="scrutiny_view",
        ref=case.ref,
        title=f"{case.ref}: the Independent Scrutineer concurs with the outcome",
        text=comment or "The scrutineer agrees with the panel's decision.",
        facts=[Fact(label="Case", value=case.ref), Fact(label="Scrutineer", value=scrutineer)],
    )


def scrutiny_meeting_outcome(env: Env, case: Case, outcome: str, rationale: str) -> Message:
    stands = outcome == "decision_stands"
    return Message(
        kind="scrutiny_meeting_outcome",
        ref=case.ref,
        title=f"{case.ref}: after the meeting with the scrutineer, the decision " + ("stands" if stands else "changes"),
        text=rationale
        + ("" if stands else "\n\nThe Business Manager reopens screening to record the changed decision."),
        facts=[Fact(label="Case", value=case.ref)],
    )


CHANGE_LABELS = {ActionId.CHANGE_VOTE: "Change vote", ActionId.DISAGREE: "Disagree", ActionId.CONCUR: "Concur"}


def recorded_for_you(env: Env, case: Case, what: str, recorder: str, method: str | None, change: ActionId) -> Message:
    """To the person something was recorded for, on their own channel, with a way to change it."""
    how = RECORD_METHODS.get(method or "", "")
    actions = [Action(id=change, label=CHANGE_LABELS.get(change, "Change"), value=action_value(case.ref))]
    if change is ActionId.MILESTONE_DONE:
        actions = []
    return Message(
        kind="recorded_for_you",
        ref=case.ref,
        title=f"{case.ref}: {recorder} recorded this for you, as you said it {how}".rstrip(),
        text=f"{what}. If that is not what you said, change it here or tell the Business Manager.",
        facts=case_facts(env, case),
        actions=actions,
    )
