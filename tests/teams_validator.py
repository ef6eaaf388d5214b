"""Microsoft's own checks on what panelbot gives Teams, run by `tools/teams-validate/validate.mjs` (node):
the app manifest against the Teams JSON schema of its `manifestVersion` (from `@microsoft/app-manifest`),
and Adaptive Cards through Microsoft's `adaptivecards` library (parse + validateProperties).

Without node (or without `npm ci` in tools/teams-validate) the tests that need it are skipped locally
with the reason; under CI (`CI=true`) that is a failure instead, so CI always runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "teams-validate"
SCRIPT = TOOL / "validate.mjs"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    errors: list[dict[str, Any]]

    def describe(self) -> str:
        return "\n".join(json.dumps(e, sort_keys=True) for e in self.errors)

    def explain(self, cards: list[dict[str, Any]], most: int = 20) -> str:
        """Card errors with each card's first line of text, so the card can be found."""
        lines = []
        for error in self.errors[:most]:
            card = cards[error["card"]] if isinstance(error.get("card"), int) else {}
            first = next(iter(texts(card)), "")
            lines.append(f"card {error.get('card')} ({first!r}): {error.get('event')}: {error.get('message')}")
        lines.append(json.dumps(cards[self.errors[0]["card"]], indent=1) if self.errors and lines else "")
        return "\n".join(lines)


def texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return []


def unique(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The cards without repeats (the same card is often sent to several people)."""
    seen: dict[str, dict[str, Any]] = {}
    for card in cards:
        seen.setdefault(json.dumps(card, sort_keys=True), card)
    return list(seen.values())


def missing() -> str | None:
    """Why the validators cannot run here, or None when they can."""
    if shutil.which("node") is None:
        return "node is not installed, so Microsoft's Teams manifest and card validators cannot run"
    if not (TOOL / "node_modules" / "adaptivecards").is_dir():
        return f"run `npm ci` in {TOOL} to install Microsoft's Teams validators"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def node() -> str:
    """The node binary, or skip (locally) / fail (under CI) saying what is missing."""
    reason = missing()
    if reason is not None:
        if in_ci():
            pytest.fail(f"CI must run Microsoft's Teams validators: {reason}")
        pytest.skip(reason)
    return str(shutil.which("node"))


def validate(mode: str, data: Any, workdir: Path) -> Verdict:
    """Run the validator (`manifest` or `cards`) on `data`; cards are a list of card objects."""
    binary = node()
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{mode}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    run = subprocess.run([binary, str(SCRIPT), mode, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode in (0, 1), f"validator failed to run ({run.returncode}): {run.stderr}"
    result = json.loads(run.stdout)
    return Verdict(result["ok"], result["errors"])
