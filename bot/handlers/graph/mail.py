"""E-mail through Microsoft Graph `sendMail`, from the partnership's mailbox: for people whose
channel is e-mail, Teams people the bot cannot reach yet, and the referrer's outcome notice.

The mail says what the neutral `Message` says and nothing more: the flows never put a child's
details into a message, and this renderer adds only a fixed footer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from html import escape
from typing import Any

from bot.handlers.graph.client import GraphClient, GraphError
from bot.messages import Message
from bot.worker.outbox import Outgoing, SendResult
from bot.worker.progress import SendProgress

log = logging.getLogger("panelbot.mail")
FOOTER = "Sent by panelbot for {partnership}. Please do not put a child's personal details in any reply."


def links(message: Message) -> list[tuple[str, str]]:
    """The message's links, one line each: what it is for (the actions sharing it), and the URL."""
    grouped: dict[str, list[str]] = {}
    for action in message.actions:
        if action.url:
            grouped.setdefault(action.url, []).append(action.label)
    return [(" or ".join(labels), url) for url, labels in grouped.items()]


LINK_NOTE = (
    "The link is for you alone: please do not forward this e-mail. Opening it changes nothing; "
    "you act on the page it opens."
)


def action_hint(message: Message) -> str | None:
    if not message.actions:
        return None
    if links(message):
        return LINK_NOTE
    labels = ", ".join(a.label for a in message.actions)
    quote = f" quoting {message.ref}" if message.ref else ""
    return (
        f"What you can do: {labels}. Use panelbot in Teams or Slack if you have it, or reply to this e-mail"
        f"{quote} and the Business Manager will record your answer."
    )


def render_text(message: Message, partnership: str) -> str:
    lines = [message.title]
    if message.text:
        lines += ["", message.text]
    if message.facts:
        lines += [""] + [f"{f.label}: {f.value}" for f in message.facts]
    for labels, url in links(message):
        lines += ["", f"{labels}:", url]
    hint = action_hint(message)
    if hint:
        lines += ["", hint]
    if message.link:
        lines += ["", f"The case on the desk (sign-in needed): {message.link}"]
    return "\n".join([*lines, "", "--", FOOTER.format(partnership=partnership)]) + "\n"


def render_html(message: Message, partnership: str) -> str:
    parts = [f"<h2>{escape(message.title)}</h2>"]
    if message.text:
        parts += [f"<p>{escape(paragraph)}</p>" for paragraph in message.text.split("\n\n")]
    if message.facts:
        rows = "".join(
            f'<tr><th align="left" valign="top">{escape(f.label)}</th><td>{escape(f.value)}</td></tr>'
            for f in message.facts
        )
        parts.append(f'<table cellpadding="4">{rows}</table>')
    for labels, url in links(message):
        parts.append(f'<p><a href="{escape(url)}">{escape(labels)}</a><br><small>{escape(url)}</small></p>')
    hint = action_hint(message)
    if hint:
        parts.append(f"<p>{escape(hint)}</p>")
    if message.link:
        what = escape(message.ref or "the case")
        parts.append(f'<p><a href="{escape(message.link)}">Open {what} on the desk</a> (sign-in needed)</p>')
    parts.append(f'<p style="color:#666"><small>{escape(FOOTER.format(partnership=partnership))}</small></p>')
    return '<html><body style="font-family:sans-serif">' + "".join(parts) + "</body></html>"


def graph_result(exc: GraphError) -> SendResult:
    if exc.transient:
        return SendResult.retry(str(exc), after=exc.retry_after)
    return SendResult.failed(str(exc))


@dataclass
class EmailSender:
    """Mail through Graph, at most once per outbox row. With a progress store (every real run), a
    mail is created as a draft, the draft's id noted on the row, the draft tagged with the outbox key
    (a single-value extended property), then sent. A retry after an unknown outcome looks first: a
    tagged message that is no longer a draft (Sent Items) means it went; a tagged or noted draft is
    sent rather than a new one made; a noted draft that has gone from the mailbox was sent."""

    graph: GraphClient
    mailbox: str | None
    partnership: str
    progress: SendProgress | None = None
    _uncertain: set[str] = field(default_factory=set)

    async def send(self, item: Outgoing) -> SendResult:
        if not self.mailbox:
            return SendResult.failed("partnership.mailbox is not set in app.yaml, so there is no mailbox to send from")
        try:
            ref = await self._deliver(self.mailbox, item)
        except GraphError as exc:
            if exc.transient and exc.status != 429:
                self._uncertain.add(item.key)  # it may have happened: look before sending again
            return graph_result(exc)
        self._uncertain.discard(item.key)
        return SendResult.sent(ref)

    async def _deliver(self, mailbox: str, item: Outgoing) -> dict[str, Any]:
        message = item.message
        text, html = render_text(message, self.partnership), render_html(message, self.partnership)
        ref: dict[str, Any] = {"mailbox": mailbox, "to": item.address}
        if self.progress is None:  # no case store to note progress in (a one-off send): sendMail
            await self.graph.send_mail(mailbox, [item.address], message.title, text, html)
            return ref
        progress = await self.progress.load(item.id)
        noted = progress.notes.get("draft_id") if progress else None
        if item.attempts > 1 or item.key in self._uncertain or noted:
            found = await self._look_up(mailbox, item, noted if isinstance(noted, str) else None)
            if found is not None:
                return ref | found
        draft = await self.graph.create_draft(mailbox, [item.address], message.title, text, html)
        await self.progress.note(item.id, draft_id=draft)
        await self.graph.tag_message(mailbox, draft, item.key)
        await self.graph.send_draft(mailbox, draft)
        return ref | {"draft_id": draft}

    async def _look_up(self, mailbox: str, item: Outgoing, noted: str | None) -> dict[str, Any] | None:
        """What an earlier attempt left: sent (a reference), a draft now sent here, or None (nothing)."""
        tagged = await self.graph.messages_with_key(mailbox, item.key)
        sent = next((mid for mid, draft in tagged if not draft), None)
        if sent is not None:
            log.info("outbox row %s was mailed by an earlier attempt (%s)", item.id, sent)
            return {"message_id": sent, "found": "sent"}
        draft = next((mid for mid, is_draft in tagged if is_draft), None)
        if draft is None and noted is not None:
            still_draft = await self.graph.draft_exists(mailbox, noted)
            if not still_draft:
                log.info("outbox row %s: its draft %s is no longer a draft, so it was sent", item.id, noted)
                return {"draft_id": noted, "found": "draft sent"}
            draft = noted
            await self.graph.tag_message(mailbox, draft, item.key)  # the earlier attempt stopped before tagging
        if draft is None:
            return None
        await self.graph.send_draft(mailbox, draft)
        return {"draft_id": draft, "found": "draft"}
