"""Slack modals: neutral forms as Block Kit views, their submitted values, and inline errors."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DatePickerElement,
    DateTimePickerElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.forms import Field, Form
from bot.handlers.slack.blocks import (
    FORM_CALLBACK,
    MAX_MODAL_BLOCKS,
    MODAL_TEXT_MAX,
    clip,
    escape,
    mrkdwn,
    plain,
    short_label,
)

# ---------------------------------------------------------------- modals

# Fields shown only when another field has a value: the Rapid Review grounds (Part B 2.2 a, b).
SHOWN_WHEN: dict[str, tuple[str, str]] = {
    "abuse_nature": ("pathway", "rapid_review"),
    "harm_basis": ("pathway", "rapid_review"),
}
MODAL_TITLES = {"scrutiny_disagree": "Disagree", "referrer_answer": "Referrer's answer"}
YES_NO = (("yes", "Yes"), ("no", "No"))


@dataclass(frozen=True)
class FormContext:
    """What a modal must remember between opening and submission (its private_metadata)."""

    form: str
    ref: str | None = None
    hidden: tuple[tuple[str, str], ...] = ()  # action values the form carries but does not show

    def dump(self) -> str:
        data = {"form": self.form, "ref": self.ref, "hidden": dict(self.hidden)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def load(cls, raw: str) -> FormContext:
        data = json.loads(raw or "{}")
        hidden = tuple(sorted((str(k), str(v)) for k, v in (data.get("hidden") or {}).items()))
        return cls(str(data["form"]), data.get("ref"), hidden)


def _options(pairs: Iterable[tuple[str, str]]) -> list[Option]:
    return [Option(value=value, text=plain(label, 75)) for value, label in pairs]


def _initial(options: list[Option], value: str | None) -> Option | None:
    return next((o for o in options if o.value == value), None)


def field_element(field: Field, preset: str | None) -> Any:
    """The Block Kit input element for a neutral form field; action_id is the field name."""
    if field.kind in ("choice", "yes_no"):
        options = _options(field.options if field.kind == "choice" else YES_NO)
        cls = StaticSelectElement if field.kind == "choice" else RadioButtonsElement
        extra = {"placeholder": plain("Choose…", 150)} if cls is StaticSelectElement else {}
        return cls(action_id=field.name, options=options, initial_option=_initial(options, preset), **extra)
    if field.kind == "date":
        return DatePickerElement(action_id=field.name, initial_date=preset or None)
    if field.kind == "datetime":
        return DateTimePickerElement(action_id=field.name)
    return PlainTextInputElement(
        action_id=field.name,
        multiline=field.kind == "multiline",
        min_length=field.min_length,
        max_length=field.max_length,
        initial_value=preset or None,
    )


def visible_fields(form: Form, preset: dict[str, str]) -> list[Field]:
    names = {f.name for f in form.fields}
    return [
        f
        for f in form.fields
        if f.name not in SHOWN_WHEN
        or SHOWN_WHEN[f.name][0] not in names
        or preset.get(SHOWN_WHEN[f.name][0]) == SHOWN_WHEN[f.name][1]
    ]


def render_modal(form: Form, context: FormContext, preset: dict[str, str] | None = None) -> dict[str, Any]:
    """A neutral form as a modal: one input block per field, block_id = action_id = field name, so
    `response_action: errors` maps straight from a `Reply`'s per-field errors."""
    preset = dict(preset or {})
    names = {f.name for f in form.fields}
    controllers = {SHOWN_WHEN[n][0] for n in names if n in SHOWN_WHEN}
    blocks: list[Block] = []
    if context.ref:
        blocks.append(ContextBlock(elements=[mrkdwn(f"Case *{escape(context.ref)}*")]))
    for field in visible_fields(form, preset):
        blocks.append(
            InputBlock(
                block_id=field.name,
                label=plain(field.label, 2000),
                hint=plain(field.hint, 2000) if field.hint else None,
                optional=not field.required,
                dispatch_action=field.name in controllers or None,
                element=field_element(field, preset.get(field.name)),
            )
        )
    hidden = tuple(sorted((k, v) for k, v in preset.items() if k not in names))
    context = FormContext(context.form, context.ref, hidden or context.hidden)
    view = View(
        type="modal",
        callback_id=FORM_CALLBACK,
        title=plain(MODAL_TITLES.get(form.name) or short_label(form.title), MODAL_TEXT_MAX),
        submit=plain(short_label(form.submit), MODAL_TEXT_MAX),
        close=plain("Cancel", MODAL_TEXT_MAX),
        private_metadata=context.dump(),
        blocks=blocks[:MAX_MODAL_BLOCKS],
    )
    return view.to_dict()


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """What a modal turns into after submission: the outcome, and a Close button."""
    view = View(
        type="modal",
        title=plain(short_label(title), MODAL_TEXT_MAX),
        close=plain("Close", MODAL_TEXT_MAX),
        blocks=[SectionBlock(text=mrkdwn(escape(text)))],
    )
    return view.to_dict()


def state_values(form: Form, state: dict[str, Any]) -> dict[str, str | None]:
    """A submitted modal's values as `{field name: string}`, the shape `interactions.submit` takes."""
    names = {f.name for f in form.fields}
    out: dict[str, str | None] = {}
    for block_id, elements in (state.get("values") or {}).items():
        if block_id not in names:
            continue
        for element in elements.values():
            out[block_id] = element_value(element)
    return out


def element_value(element: dict[str, Any]) -> str | None:
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons"):
        return (element.get("selected_option") or {}).get("value")
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "datetimepicker":
        stamp = element.get("selected_date_time")
        return dt.datetime.fromtimestamp(int(stamp), dt.UTC).isoformat() if stamp else None
    if kind == "timepicker":
        return element.get("selected_time")
    return element.get("value")


def modal_errors(errors: dict[str, str], view: dict[str, Any]) -> dict[str, str]:
    """Per-field errors keyed by block id; an error about a field the modal lacks goes on the first input."""
    inputs = [b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input" and b.get("block_id")]
    out: dict[str, str] = {}
    for name, message in errors.items():
        target = name if name in inputs else (inputs[0] if inputs else None)
        if target is None:
            continue
        text = message if target == name else f"{name.replace('_', ' ')}: {message}"
        out[target] = clip(f"{out[target]} {text}" if target in out else text, 1000)
    return out
