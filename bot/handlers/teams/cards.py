"""Adaptive Cards (schema 1.5) for Microsoft Teams, rendered from the neutral `Message` and `Form`.

A button that acts at once becomes an `Action.Execute` whose verb is the action id. A button that
opens a form becomes an `Action.ShowCard` holding the form's inputs; when several buttons open the
same form (the four pathway buttons of a vote request) the form is shown on the card itself, once.
A form is submitted with `Action.Execute` whose verb is the form's name. Its `data` names the case,
the form and the outbox row the card came from (so the card can be shown again with its errors);
who is acting always comes from the verified Teams identity, never from this data.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bot import forms, interactions
from bot.config import AppConfig
from bot.messages import Action, Fact, Message, split_action_value

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
META = "_panelbot"  # the key in Action.Execute data that carries ref, form, value and card
YES_NO = (("yes", "Yes"), ("no", "No"))
STYLES = {"primary": "positive", "danger": "destructive"}


@dataclass(frozen=True)
class Desk:
    """Where the web desk is (`web.base_url` in app.yaml), for links from cards to its pages; with no
    base URL there is no desk to link to, and cards carry no links."""

    base: str | None = None

    def _url(self, path: str) -> str | None:
        return f"{self.base.rstrip('/')}{path}" if self.base else None

    def case(self, ref: str | None) -> str | None:
        return self._url(f"/cases/{quote(ref, safe='')}") if ref else None

    def new_referral(self) -> str | None:
        return self._url("/referrals/new")

    def home(self) -> str | None:
        return self._url("/")


def desk_of(cfg: AppConfig) -> Desk:
    return Desk(cfg.web.base_url)


def open_url(title: str, url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def desk_links(url: str | None, title: str = "Open on the desk") -> list[dict[str, Any]]:
    return [open_url(title, url)] if url else []


def message_link(message: Message, desk: Desk) -> list[dict[str, Any]]:
    """A card about a case links to the case's page (the link `post` gave the message, else the case's
    page on the desk); the digest, about every open case, to the desk itself."""
    if message.link:
        return desk_links(message.link)
    if message.ref:
        return desk_links(desk.case(message.ref))
    if message.kind == "digest":
        return desk_links(desk.home(), "Open the desk")
    return []


@dataclass(frozen=True)
class OpenForm:
    """A form shown again after a submission: what was entered and what was wrong with it."""

    name: str
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def adaptive_card(body: list[dict[str, Any]], card_actions: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    card: dict[str, Any] = {"type": "AdaptiveCard", "$schema": SCHEMA, "version": VERSION, "body": body}
    card_actions = list(card_actions)
    if card_actions:
        card["actions"] = card_actions
    return card


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def fact_set(facts: Iterable[Fact]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [{"title": f.label, "value": f.value} for f in facts]}


def message_body(message: Message, banner: str | None = None) -> list[dict[str, Any]]:
    body = [text_block(message.title, weight="Bolder", size="Medium")]
    if banner:
        body.append(text_block(banner, color="Attention", weight="Bolder"))
    if message.text:
        body.append(text_block(message.text))
    if message.facts:
        body.append(fact_set(message.facts))
    return body


def message_card(
    message: Message,
    key: str | None = None,
    open_form: OpenForm | None = None,
    banner: str | None = None,
    desk: Desk = Desk(),
) -> dict[str, Any]:
    """The card for a message; `open_form` shows that form on the card with its values and errors."""
    body = message_body(message, banner)
    card_actions: list[dict[str, Any]] = []
    for form, group in _group_by_form(message.actions):
        if form is None:
            card_actions += [_execute_button(a, key) for a in group]
            continue
        inline = len(group) > 1 or (open_form is not None and open_form.name == form.name)
        state = open_form if open_form is not None and open_form.name == form.name else None
        if inline:
            values = state.values if state else {}
            errors = state.errors if state else {}
            body += form_inputs(form, values, errors)
            card_actions.append(submit_action(form, message.ref, group[0].value, key))
        else:
            card_actions.append(_show_card(form, group[0], message.ref, key))
    return adaptive_card(body, card_actions + message_link(message, desk))


def _group_by_form(items: list[Action]) -> list[tuple[forms.Form | None, list[Action]]]:
    groups: list[tuple[forms.Form | None, list[Action]]] = []
    for action in items:
        form = interactions.form_for(action.id)
        for known, group in groups:
            if form is not None and known is form:
                group.append(action)
                break
        else:
            groups.append((form, [action]))
    return groups


def meta(ref: str | None, form: str | None, value: str, key: str | None) -> dict[str, Any]:
    return {META: {"ref": ref, "form": form, "value": value, "card": key}}


def _execute_button(action: Action, key: str | None) -> dict[str, Any]:
    ref, _ = split_action_value(action.value)
    button = {"type": "Action.Execute", "title": action.label, "verb": action.id.value}
    button["data"] = meta(ref, None, action.value, key)
    if action.style in STYLES:
        button["style"] = STYLES[action.style]
    return button


def submit_action(form: forms.Form, ref: str | None, value: str, key: str | None) -> dict[str, Any]:
    ref = ref or split_action_value(value)[0]
    return {
        "type": "Action.Execute",
        "title": form.submit,
        "verb": form.name,
        "style": "positive",
        "data": meta(ref, form.name, value, key),
    }


def _show_card(form: forms.Form, action: Action, ref: str | None, key: str | None) -> dict[str, Any]:
    preset = interactions.preset_for(action.id, action.value)
    inner = adaptive_card(form_inputs(form, preset, {}), [submit_action(form, ref, action.value, key)])
    del inner["$schema"], inner["version"]
    return {"type": "Action.ShowCard", "title": action.label, "card": inner}


def form_inputs(form: forms.Form, values: dict[str, Any], errors: dict[str, str]) -> list[dict[str, Any]]:
    """The form's inputs, each followed by its error (if any) in the attention colour."""
    body: list[dict[str, Any]] = []
    general = {k: v for k, v in errors.items() if k not in {f.name for f in form.fields}}
    body += [text_block(msg, color="Attention") for msg in general.values()]
    for f in form.fields:
        body.append(field_input(f, values.get(f.name)))
        if f.hint:
            body.append(text_block(f.hint, isSubtle=True, size="Small", spacing="None"))
        if f.name in errors:
            body.append(text_block(errors[f.name], color="Attention", size="Small", spacing="None"))
    return body


def field_input(f: forms.Field, value: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"id": f.name, "label": f.label, "isRequired": f.required}
    if f.required:
        item["errorMessage"] = "This is required."
    if f.kind in ("choice", "yes_no"):
        options = f.options if f.kind == "choice" else YES_NO
        item |= {"type": "Input.ChoiceSet", "style": "expanded"}
        item["choices"] = [{"title": label, "value": v} for v, label in options]
    elif f.kind == "date":
        item["type"] = "Input.Date"
    else:
        item |= {"type": "Input.Text", "isMultiline": f.kind == "multiline"}
        if f.max_length:
            item["maxLength"] = f.max_length
        if f.kind == "datetime":
            item["placeholder"] = "YYYY-MM-DD HH:MM"
    if value not in (None, ""):
        item["value"] = str(value)
    return item


def display_value(f: forms.Field, value: Any) -> str:
    if f.kind == "choice":
        return dict(f.options).get(str(value), str(value))
    if f.kind == "yes_no":
        answer = interactions.yes_no(str(value))
        return {True: "Yes", False: "No"}.get(answer, str(value)) if answer is not None else str(value)
    return str(value)


def values_facts(form: forms.Form, values: dict[str, Any]) -> list[Fact]:
    return [
        Fact(label=f.label, value=display_value(f, values[f.name]))
        for f in form.fields
        if values.get(f.name) not in (None, "")
    ]


def result_card(
    headline: str, facts: list[Fact], original: Message | None = None, ok: bool = True, link: str | None = None
) -> dict[str, Any]:
    """What replaces a card once something is recorded: what happened, never the inputs again; `link`
    is the case's page on the desk."""
    body = [text_block(headline, weight="Bolder", color="Good" if ok else "Attention")]
    if original is not None:
        body += message_body(original.model_copy(update={"actions": []}))
    if facts:
        body.append(fact_set(facts))
    return adaptive_card(body, desk_links(link))


def form_card(
    form: forms.Form, ref: str, key: str | None, state: OpenForm, banner: str, link: str | None = None
) -> dict[str, Any]:
    """A form on its own, for when the card it was on cannot be found again."""
    body = [text_block(f"{ref}: {form.title}", weight="Bolder", size="Medium")]
    body += [text_block(banner, color="Attention", weight="Bolder")]
    body += form_inputs(form, state.values, state.errors)
    return adaptive_card(body, [submit_action(form, ref, ref, key), *desk_links(link)])


def notice_card(text: str) -> dict[str, Any]:
    """A bare notice: refusals, help. Shows nothing of any case."""
    return adaptive_card([text_block(text, weight="Bolder")])
