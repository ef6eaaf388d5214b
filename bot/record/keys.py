"""Re-sealing the personal data under the newest data key, and checking what the keys at hand open."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import select

from bot import sealing
from bot.flows.common import Env, audit
from bot.flows.personal import LEGACY_COLUMNS
from bot.sealing import DataKeyError
from storage.models import Case, Child
from storage.uow import UnitOfWork


async def rotate(uow: UnitOfWork, env: Env, actor: str) -> dict[str, int]:
    """Seal every document with the newest key: sealed ones re-sealed, clear ones sealed for the first time,
    rows from before sealing moved out of their columns. One transaction: a record no key opens stops it all."""
    keys = env.data_keys
    if keys is None:
        raise DataKeyError("PANELBOT_DATA_KEY is not set: give the new key first, then the old ones, comma-separated")
    counts: Counter[str] = Counter()
    for child in await uow.session.scalars(select(Child).order_by(Child.id)):
        counts[_reseal_child(keys, child)] += 1
    for case in await uow.session.scalars(select(Case).order_by(Case.id)):
        counts[_reseal_contact(keys, case)] += 1
    counts.pop("empty", None)
    audit(uow, env, actor, "data_keys_rotated", None, keys=len(keys.keys), **counts)
    return dict(counts)


def _reseal_child(keys: sealing.Keyring, child: Child) -> str:
    if child.sealed is not None:
        kind = "resealed" if sealing.is_sealed(child.sealed) else "sealed"
        child.sealed = keys.reseal(child.sealed)
        return kind
    legacy: dict[str, Any] = {}
    for name in LEGACY_COLUMNS:
        value = getattr(child, name)
        if value is not None:
            legacy[name] = value.isoformat() if isinstance(value, dt.date) else value
            setattr(child, name, None)
    child.sealed = keys.seal(legacy)
    return "sealed"


def _reseal_contact(keys: sealing.Keyring, case: Case) -> str:
    if case.referrer_sealed is not None:
        kind = "resealed" if sealing.is_sealed(case.referrer_sealed) else "sealed"
        case.referrer_sealed = keys.reseal(case.referrer_sealed)
        return kind
    contact = {k: v for k, v in {"phone": case.referrer_phone, "email": case.referrer_email}.items() if v}
    if not contact:
        return "empty"
    case.referrer_sealed, case.referrer_phone, case.referrer_email = keys.seal(contact), None, None
    return "sealed"


async def check(uow: UnitOfWork, env: Env) -> dict[str, int]:
    """How many documents the keys at hand open, find locked, or cannot open; and how many are in the clear."""
    counts: Counter[str] = Counter()
    stored = list(await uow.session.scalars(select(Child.sealed)))
    stored += list(await uow.session.scalars(select(Case.referrer_sealed).where(Case.referrer_sealed.is_not(None))))
    legacy = await uow.session.scalars(select(Child.id).where(Child.sealed.is_(None)))
    counts["clear"] += len(list(legacy))
    for document in stored:
        if document is None:
            continue
        if not sealing.is_sealed(document):
            counts["clear"] += 1
            continue
        state, _ = sealing.read(env.data_keys, document)
        counts[state.value] += 1
    return dict(counts)
