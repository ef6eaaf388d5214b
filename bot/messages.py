"""Platform-neutral messages: what to say and which actions to offer, not how it looks.

Each channel renders a `Message` its own way (Block Kit, Adaptive Card, HTML e-mail, text). An
action names the case in its value; who is acting always comes from the verified platform identity.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel


class ActionId(StrEnum):
    VOTE = "panel-vote"  # value "REF|pathway": opens the vote form with the pathway chosen
    CHANGE_VOTE = "panel-vote-change"
    CONCUR = "scrutiny-concur"
    DISAGREE = "scrutiny-disagree"
    NOTIFICATION_SENT = "notification-sent"
    CONSULTATION = "consultation-record"
    REFERRER_ANSWER = "referrer-answer-record"
    MILESTONE_DONE = "milestone-done"  # value "REF|obligation key"
    RECORD_DELAY = "rapid-review-delay"  # value "REF": opens the delay form
    REFERRER_REPLY = "referrer-reply"  # e-mail to the referrer only: their link to answer the panel's questions
    OPEN_ROUND = "referrer-answer-open-round"  # value "REF": the next round, with the answer the referrer gave
    RECORD_OUTCOME = "rapid-review-outcome"  # value "REF": opens the outcome form (Rapid Review chair)
    SIGNOFF_AGREE = "signoff-agree"  # value "REF": the agency agrees the Rapid Review report
    SIGNOFF_AMEND = "signoff-amend"  # value "REF": opens the form asking for amendments
    SUBMISSION_RECORDED = "submission-recorded"  # value "REF": the report went to the National Panel


class Action(BaseModel):
    id: ActionId
    label: str
    value: str
    style: str | None = None  # "primary" | "danger" | None
    # In an e-mail: the person's own single-purpose link for this action (bot/flows/links.py). The stored
    # message keeps only the link's id; the outbox worker fills in the URL as it hands the message over.
    link: int | None = None
    url: str | None = None


class Fact(BaseModel):
    label: str
    value: str


class Meeting(BaseModel):
    """An Outlook event with a Teams meeting, sent by the `calendar` channel through Graph."""

    subject: str
    start: dt.datetime
    end: dt.datetime
    attendees: list[str]  # e-mail addresses
    transaction_id: str  # Graph's idempotency key: its own retries cannot create a second event


class Message(BaseModel):
    kind: str
    ref: str | None = None
    title: str
    text: str = ""
    facts: list[Fact] = []
    actions: list[Action] = []
    meeting: Meeting | None = None
    link: str | None = None  # the case page on the desk (`web.base_url` set): for roster people only

    def plain_text(self) -> str:
        """The message as plain text: e-mail bodies, the console, notifications' fallback text."""
        lines = [self.title]
        if self.text:
            lines += ["", self.text]
        if self.facts:
            lines += [""] + [f"{f.label}: {f.value}" for f in self.facts]
        if self.actions:
            lines += ["", "Actions: " + ", ".join(a.label for a in self.actions)]
        if self.link:
            lines += ["", f"The case on the desk: {self.link}"]
        return "\n".join(lines)


def action_value(ref: str, *parts: str) -> str:
    return "|".join([ref, *parts])


def split_action_value(value: str) -> tuple[str, list[str]]:
    ref, *rest = value.split("|")
    return ref, rest
