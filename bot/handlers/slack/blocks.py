"""Slack: neutral messages and forms as Block Kit, and the outbox sender that delivers them.

Built with `slack_sdk.models` so Slack's field limits are checked when a block is serialised; the
limits slack_sdk does not check (50 blocks per message, 2000 characters per section field) are kept
here. Only what the neutral message carries goes out: the case reference, the panel summary the
Business Manager wrote for sharing, and facts. Never the child's details.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.messages import Action, ActionId, Fact, Message, split_action_value

log = logging.getLogger("panelbot.slack")

MAX_MESSAGE_BLOCKS = 50
MAX_MODAL_BLOCKS = 100
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
FIELDS_PER_SECTION = 10
BUTTONS_PER_ACTIONS = 25
BUTTON_TEXT_MAX = 75
SHORT_FACT = 120  # longer facts get a section of their own instead of a side-by-side field
MODAL_TEXT_MAX = 24
FORM_CALLBACK = "panelbot-form"
OUTBOX_EVENT = "panelbot_outbox"  # message metadata: which outbox row a message came from


# ---------------------------------------------------------------- text


def clip(text: str, limit: int) -> str:
    """Cut to `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def short_label(text: str, limit: int = MODAL_TEXT_MAX) -> str:
    """Modal titles and buttons allow 24 characters: cut at a word boundary, no ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit + 1].rsplit(" ", 1)[0]
    return cut if 0 < len(cut) <= limit else text[:limit]


def escape(text: str) -> str:
    """mrkdwn control characters: user-written text cannot mention @channel or fake a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str, limit: int = SECTION_TEXT_MAX) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(text, limit), verbatim=True)


def plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=clip(text, limit), emoji=False)


# ---------------------------------------------------------------- messages


def fact_text(fact: Fact, limit: int) -> str:
    return clip(f"*{escape(fact.label)}*\n{escape(fact.value)}", limit)


def fact_blocks(facts: Iterable[Fact]) -> list[Block]:
    """Short facts side by side (10 per section), long ones (rationales) as sections of their own."""
    blocks: list[Block] = []
    fields: list[MarkdownTextObject] = []

    def flush() -> None:
        if fields:
            blocks.append(SectionBlock(fields=list(fields)))
            fields.clear()

    for fact in facts:
        if len(fact.value) > SHORT_FACT:
            flush()
            blocks.append(SectionBlock(text=mrkdwn(fact_text(fact, SECTION_TEXT_MAX))))
            continue
        fields.append(mrkdwn(fact_text(fact, FIELD_MAX), FIELD_MAX))
        if len(fields) == FIELDS_PER_SECTION:
            flush()
    flush()
    return blocks


def button_action_ids(actions: list[Action]) -> list[str]:
    """Slack wants action ids unique within a message: repeated ones get the value's tail as suffix."""
    counts = Counter(a.id for a in actions)
    ids: list[str] = []
    for i, action in enumerate(actions):
        action_id = action.id.value
        if counts[action.id] > 1:
            _, parts = split_action_value(action.value)
            suffix = re.sub(r"[^A-Za-z0-9_.-]", "-", "-".join(parts)) or str(i)
            action_id = f"{action_id}:{suffix}"
        if action_id in ids:
            action_id = f"{action_id}:{i}"
        ids.append(action_id)
    return ids


def parse_action_id(action_id: str) -> ActionId:
    """The neutral action behind a button's action id (`panel-vote:rapid_review` → VOTE)."""
    return ActionId(action_id.split(":", 1)[0])


def action_blocks(actions: list[Action]) -> list[Block]:
    buttons = [
        ButtonElement(
            action_id=action_id,
            text=plain(action.label, BUTTON_TEXT_MAX),
            value=action.value,
            style=action.style if action.style in ("primary", "danger") else None,
        )
        for action, action_id in zip(actions, button_action_ids(actions), strict=True)
    ]
    return [
        ActionsBlock(block_id=f"actions-{n}", elements=buttons[i : i + BUTTONS_PER_ACTIONS])
        for n, i in enumerate(range(0, len(buttons), BUTTONS_PER_ACTIONS))
    ]


def render_message(message: Message) -> list[dict[str, Any]]:
    """A neutral message as Block Kit: header, text, facts, buttons; never more than 50 blocks."""
    head: list[Block] = [HeaderBlock(text=plain(message.title, HEADER_MAX))]
    if message.text:
        head.append(SectionBlock(text=mrkdwn(escape(message.text))))
    if message.link:
        head.append(
            ContextBlock(elements=[mrkdwn(f"<{message.link}|Open {escape(message.ref or 'the case')} on the desk>")])
        )
    tail = action_blocks(message.actions)
    facts = fact_blocks(message.facts)
    room = MAX_MESSAGE_BLOCKS - len(head) - len(tail)
    if len(facts) > room:
        hidden = len(facts) - (room - 1)
        more = f"{hidden} more item{'s' if hidden != 1 else ''} not shown"
        if message.ref:
            more += f": see `/panel show {message.ref}`"
        facts = [*facts[: room - 1], ContextBlock(elements=[mrkdwn(more)])]
    return [b.to_dict() for b in [*head, *facts, *tail]]


def fallback_text(message: Message) -> str:
    """The notification text shown where blocks are not (push notifications, screen readers)."""
    return clip(escape(message.title), 3000)
