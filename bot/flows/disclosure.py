"""Free text that goes to chat or e-mail (the panel summary, rationales, comments) must not identify
the child. Two checks, both naming what kind of thing was found and never the thing itself:

- patterns anyone's details match: an NHS number (ten digits whose check digit is right) and a UK
  postcode — checked when a command is built, before any database work (`bot.flows.commands`);
- the case's own Part A section 4: the child's names, date of birth, address, NHS number — checked
  by the flows, which can read it (`refuse_part_a`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

NHS_CANDIDATE = re.compile(r"(?<![\d-])(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?![\d-])")
POSTCODE = re.compile(
    r"\b(?:GIR ?0AA|[A-PR-UWYZ](?:\d[A-HJKPSTUW\d]?|[A-HK-Y]\d[ABEHMNPRVWXY\d]?) ?\d[ABD-HJLNP-UW-Z]{2})\b",
    re.IGNORECASE,
)
MONTHS = [dt.date(2000, m, 1).strftime("%B").lower() for m in range(1, 13)]


def nhs_number_valid(digits: str) -> bool:
    """Modulus 11: weights 10..2 over the first nine digits; 11 - remainder is the tenth (11 -> 0, 10 never)."""
    if len(digits) != 10 or not digits.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def pattern_findings(text: str) -> list[str]:
    """What kinds of identifying detail `text` holds by their shape alone."""
    found = []
    if any(nhs_number_valid("".join(m.groups())) for m in NHS_CANDIDATE.finditer(text)):
        found.append("an NHS number")
    if POSTCODE.search(text):
        found.append("a postcode")
    return found


def part_a_findings(text: str, part_a: Mapping[str, Any]) -> list[str]:
    """What kinds of the case's own Part A section 4 details `text` repeats."""
    found = []
    if _has_name(text, part_a):
        found.append("the child's name")
    dob = part_a.get("date_of_birth")
    if isinstance(dob, str):
        dob = _date(dob)
    if isinstance(dob, dt.date) and _has_date(text, dob):
        found.append("the child's date of birth")
    if _has_address(text, part_a.get("home_address")):
        found.append("the child's address")
    nhs = re.sub(r"\D", "", str(part_a.get("nhs_number") or ""))
    if nhs and nhs in re.sub(r"[ -]", "", text):
        found.append("the child's NHS number")
    return found


def findings_message(field: str, found: list[str]) -> str:
    what = " and ".join(found)
    return (
        f"The {field.replace('_', ' ')} contains {what}. It goes to every panel member by chat or e-mail, "
        "so it must not identify the child: please reword it (the details stay in Part A)."
    )


def _has_name(text: str, part_a: Mapping[str, Any]) -> bool:
    names = " ".join(str(part_a.get(k) or "") for k in ("forenames", "last_name", "other_names"))
    for token in set(re.findall(r"[^\W\d_][\w'’-]*", names)):
        if len(token) < 2 or (len(token) <= 3 and not token[0].isupper()):
            continue  # "in", "the": not names; short names ("Amy", "May") count only as written
        flags = re.IGNORECASE if len(token) >= 4 else 0
        if re.search(rf"(?<!\w){re.escape(token)}(?!\w)", text, flags):
            return True
    return False


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _has_date(text: str, day: dt.date) -> bool:
    plain = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.lower())
    plain = re.sub(r"\s+", " ", plain.replace(",", " "))
    month, short = MONTHS[day.month - 1], MONTHS[day.month - 1][:3]
    d, m, y, yy = day.day, day.month, day.year, f"{day.year % 100:02d}"
    numeric = rf"(?<!\d)0?{d}\s*[/.\-]\s*0?{m}\s*[/.\-]\s*(?:{y}|{yy})(?!\d)"
    iso = rf"(?<!\d){y}-0?{m}-0?{d}(?!\d)"
    words = rf"(?<!\d)0?{d} (?:{month}|{short}\.?) {y}|(?:{month}|{short}\.?) 0?{d} {y}"
    return any(re.search(p, plain) for p in (numeric, iso, words))


def _has_address(text: str, address: Any) -> bool:
    if not address:
        return False
    flat = re.sub(r"\s+", " ", text).lower()
    for part in re.split(r"[,\n]+", str(address)):
        part = re.sub(r"\s+", " ", part).strip().lower()
        street = re.sub(r"^(flat \w+ )?\d+[a-z]? ", "", part)
        candidates = [part] if re.search(r"\d", part) else []
        if len(street.split()) >= 2:  # "Secret Lane" without the number; a town alone does not count
            candidates.append(street)
        if any(len(c) >= 5 and re.search(rf"(?<!\w){re.escape(c)}(?!\w)", flat) for c in candidates):
            return True
    return False
