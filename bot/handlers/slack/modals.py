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
from bot.handlers.slack.payloads import MAX_METADATA, Malformed, at, mapping

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
    def load(cls, raw: Any) -> FormContext:
        """Read back what `dump` wrote; anything else (not JSON, too long, wrong shapes) is `Malformed`."""
        if not isinstance(raw, str) or len(raw) > MAX_METADATA:
            raise Malformed("view/private_metadata")
        try:
            data = json.loads(raw or "{}")
        except ValueError:
            raise Malformed("view/private_metadata") from None
        form, ref, hidden = at(data, "form"), at(data, "ref"), at(data, "hidden") or {}
        if not isinstance(form, str) or not isinstance(ref, str | None) or not isinstance(hidden, dict):
            raise Malformed("view/private_metadata")
        if not all(isinstance(v, str) for v in hidden.values()):
            raise Malformed("view/private_metadata/hidden")
        return cls(form, ref, tuple(sorted(hidden.items())))


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


def state_values(form: Form, state: Any) -> dict[str, str | None]:
    """A submitted modal's values as `{field name: string}`, the shape `interactions.submit` takes.
    Blocks the form lacks, and elements of a shape Slack never sends, are left out."""
    names = {f.name for f in form.fields}
    out: dict[str, str | None] = {}
    for block_id, elements in mapping(state, "values").items():
        if block_id not in names or not isinstance(elements, dict):
            continue
        for element in elements.values():
            value = element_value(element) if isinstance(element, dict) else None
            out[block_id] = value if isinstance(value, str) else None
    return out


def element_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("static_select", "radio_buttons"):
        return at(element, "selected_option", "value")
    if kind == "datepicker":
        return element.get("selected_date")
    if kind == "datetimepicker":
        stamp = element.get("selected_date_time")
        if not isinstance(stamp, int) or isinstance(stamp, bool):
            return None
        try:
            return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat()
        except (OverflowError, OSError, ValueError):
            return None
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
