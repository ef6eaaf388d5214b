"""E-mail through Microsoft Graph `sendMail`, from the partnership's mailbox: for people whose
channel is e-mail, Teams people the bot cannot reach yet, and the referrer's outcome notice.

The mail says what the neutral `Message` says and nothing more: the flows never put a child's
details into a message, and this renderer adds only a fixed footer.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from bot.handlers.graph.client import GraphClient, GraphError
from bot.messages import Message
from bot.worker.outbox import Outgoing, SendResult

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
    parts.append(f'<p style="color:#666"><small>{escape(FOOTER.format(partnership=partnership))}</small></p>')
    return '<html><body style="font-family:sans-serif">' + "".join(parts) + "</body></html>"


def graph_result(exc: GraphError) -> SendResult:
    if exc.transient:
        return SendResult.retry(str(exc), after=exc.retry_after)
    return SendResult.failed(str(exc))


@dataclass
class EmailSender:
    graph: GraphClient
    mailbox: str | None
    partnership: str

    async def send(self, item: Outgoing) -> SendResult:
        if not self.mailbox:
            return SendResult.failed("partnership.mailbox is not set in app.yaml, so there is no mailbox to send from")
        message = item.message
        try:
            await self.graph.send_mail(
                self.mailbox,
                [item.address],
                message.title,
                render_text(message, self.partnership),
                render_html(message, self.partnership),
            )
        except GraphError as exc:
            return graph_result(exc)
        return SendResult.sent({"mailbox": self.mailbox, "to": item.address})
