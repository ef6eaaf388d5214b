"""`panelbot report case REF`: the case record as a PDF a person can read, print and check against the
store — the referral without the child's details, each round's votes with rationale and times, the
decision and how it was reached, scrutiny, the timeline with due, done and late, delays, the messages
and their delivery, and the audit chain's hashes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import FontFace
from sqlalchemy import func, select

from bot.flows.common import Env, load_case
from bot.flows.timelines.plan import timeline
from bot.views import case_view
from storage import audit_chain
from storage.models import AuditEvent
from storage.uow import UnitOfWork

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
DELAY_ACTIONS = ("delay_recorded",)
GROUNDS = (("abuse_nature", "Nature of the abuse or neglect"), ("harm_basis", "Serious harm"))


async def case_record(uow: UnitOfWork, env: Env, ref: str) -> dict[str, Any]:
    """Everything the PDF shows, as plain data (no Part A section 4, no contact details)."""
    case = await load_case(uow, ref)
    view = await case_view(uow, env, case.ref)
    plan = await timeline(uow, env, case.ref)
    events = list(
        await uow.session.scalars(select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.id))
    )
    total = await uow.session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    return {
        "view": view,
        "timeline": plan,
        "referral": {
            "received": env.local(case.received_at),
            "incident_date": case.incident_date.isoformat() if case.incident_date else "not given",
            "referrer": ", ".join(filter(None, [case.referrer_name, case.referrer_role, case.referrer_agency])),
        },
        "delays": [
            {
                "at": env.local(e.at),
                "by": e.actor,
                "reason": e.details.get("reason"),
                "expected": e.details.get("expected"),
            }
            for e in events
            if e.action in DELAY_ACTIONS
        ],
        "audit": {
            "case_events": len(events),
            "case_last_hash": events[-1].hash if events else None,
            "store_events": total,
            "head": await audit_chain.head_hash(uow.session),
        },
        "generated": env.local(env.now()),
        "partnership": env.cfg.partnership.name,
    }


class _Doc(FPDF):
    ref = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.font_family, "", 7)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.ref} — case record — page {self.page_no()}/{{nb}} — no child's details", align="C")


def render_pdf(record: dict[str, Any], env: Env) -> bytes:
    view, plan = record["view"], record["timeline"]
    doc = _Doc(format="A4")
    doc.ref = view["ref"]
    family = _fonts(doc)
    doc.set_margins(15, 15, 15)
    doc.set_auto_page_break(True, margin=16)
    doc.add_page()
    w = _Writer(doc, family, env)

    doc.set_font(family, "B", 16)
    doc.cell(0, 9, f"Case record {view['ref']}", new_x="LMARGIN", new_y="NEXT")
    doc.set_font(family, "", 9)
    doc.set_text_color(90)
    doc.multi_cell(
        0,
        5,
        f"{record['partnership']} · produced {record['generated']} (Europe/London) · "
        "Part A section 4 (the child's details) and contact details are not part of this record.",
    )
    doc.set_text_color(0)

    w.heading("Referral")
    w.facts(
        [
            ("Status", str(view["status"]).replace("_", " ")),
            ("Received", record["referral"]["received"]),
            ("Incident date", record["referral"]["incident_date"]),
            ("Referred by", record["referral"]["referrer"]),
            ("Screening due", w.when(view["screening_due"])),
            ("Notification due", w.when(view["notification_due"])),
            ("National Panel notified", w.when(view["notified"]) or "no"),
            ("Rapid Review due", w.when(view["rapid_review_due"]) or "—"),
        ]
    )
    w.paragraph("Summary shared with the panel", view["panel_summary"])

    for rnd in view["rounds"]:
        w.heading(f"Screening round {rnd['number']} — opened {w.when(rnd['opened_at'])}, {rnd['state']}")
        votes = [v for v in view["votes"] if v["round"] == rnd["number"]]
        if not votes:
            w.note("No votes were cast in this round.")
        w.table(
            ["Agency", "Voter", "Pathway", "Notifiable", "Cast"],
            [
                [
                    v["agency"],
                    v["voter_name"],
                    w.word(v["pathway"]) + (" (after the decision)" if v["after_decision"] else ""),
                    "yes" if v["notifiable"] else "no",
                    w.when(v["time"]),
                ]
                for v in votes
            ],
            (22, 40, 50, 20, 48),
        )
        for v in votes:
            lines = [v["rationale"]] + [f"{label}: {v[key]}" for key, label in GROUNDS if v.get(key)]
            w.paragraph(f"{v['voter_name']} ({v['agency']}): rationale", "\n".join(lines))

    w.heading("Decision")
    if not view["decisions"]:
        w.note("The panel has not decided yet.")
    for d in view["decisions"]:
        w.facts(
            [
                ("Round", str(d["round"])),
                ("Pathway", w.word(d["pathway"])),
                ("Notifiable", "yes" if d["notifiable"] else "no"),
                ("Method", w.word(d["method"])),
                ("Decided", w.when(d["decided_at"])),
                ("Decided by", d["decided_by"] or "the panel's votes"),
            ]
        )
        if d["rationale"]:
            w.paragraph("Rationale", d["rationale"])

    w.heading("Scrutiny")
    if not view["scrutiny"]:
        w.note("No scrutiny recorded.")
    w.table(
        ["By", "Verdict", "When", "Comment"],
        [[s["by"], s["verdict"], w.when(s["at"]), s["comment"] or ""] for s in view["scrutiny"]],
        (30, 22, 40, 88),
    )

    w.heading("Timeline")
    rows = []
    for ob in plan["obligations"]:
        rows.append([ob["what"], ob["owner"], w.when(ob["due_at"]), w.when(ob["done_at"]) or ob["state"], _late(ob)])
    w.table(["Obligation", "Owner", "Due", "Done", "Late?"], rows, (62, 34, 32, 32, 20))

    w.heading("Delays")
    if not record["delays"]:
        w.note("No delay was recorded.")
    w.table(
        ["Recorded", "By", "Expected", "Reason"],
        [[d["at"], d["by"], d["expected"] or "", d["reason"] or ""] for d in record["delays"]],
        (38, 26, 26, 90),
    )

    w.heading("Messages and their delivery")
    w.table(
        ["Queued", "Kind", "To", "Channel", "Delivery"],
        [
            [
                w.when(m["at"]),
                w.word(m["kind"]),
                _recipient(m),
                m["channel"],
                m["state"] + (f", {w.when(m['sent_at'])}" if m["sent_at"] else ""),
            ]
            for m in view["messages"]
        ],
        (34, 42, 34, 20, 50),
    )

    audit = record["audit"]
    w.heading("Audit trail")
    w.facts(
        [
            ("Events about this case", str(audit["case_events"])),
            ("This case's last event hash", audit["case_last_hash"] or "—"),
            ("Events in the store", str(audit["store_events"])),
            ("Chain head hash", audit["head"]),
        ],
        mono=True,
    )
    w.note(
        "Check a printed copy against the store: `panelbot audit verify` walks the whole chain, and "
        "`panelbot audit export REF` lists this case's events with their hashes."
    )
    return bytes(doc.output())


def _late(ob: dict[str, Any]) -> str:
    due = dt.datetime.fromisoformat(ob["due_at"])
    if ob["done_at"]:
        return "LATE" if dt.datetime.fromisoformat(ob["done_at"]) > due else "on time"
    if ob["state"] == "open":
        return "OVERDUE" if ob["rag"] == "red" else "open"
    return ob["state"]


def _recipient(message: dict[str, Any]) -> str:
    to = str(message["to"] or "")
    return "the referrer" if "@" in to and message["channel"] == "email" and "." in to else to


def _fonts(doc: FPDF) -> str:
    """DejaVu Sans where the system has it (any character); else Helvetica with text made Latin-1."""
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    mono = FONT_DIR / "DejaVuSansMono.ttf"
    if regular.exists() and bold.exists() and mono.exists():
        doc.add_font("DejaVu", "", str(regular))
        doc.add_font("DejaVu", "B", str(bold))
        doc.add_font("DejaVuMono", "", str(mono))
        doc.set_font("DejaVu", "", 10)
        return "DejaVu"
    doc.core_fonts_encoding = "latin-1"
    doc.set_font("Helvetica", "", 10)
    return "Helvetica"


class _Writer:
    def __init__(self, doc: FPDF, family: str, env: Env) -> None:
        self.doc, self.family, self.env = doc, family, env
        self.unicode = family == "DejaVu"

    def text(self, value: Any) -> str:
        value = "" if value is None else str(value)
        if self.unicode:
            return value
        swaps = {"—": "-", "–": "-", "’": "'", "‘": "'", "“": '"', "”": '"', "…": "...", "·": "-"}
        return "".join(swaps.get(c, c) for c in value).encode("latin-1", "replace").decode("latin-1")

    def when(self, value: str | None) -> str:
        return self.env.local(dt.datetime.fromisoformat(value)) if value else ""

    @staticmethod
    def word(value: str | None) -> str:
        return (value or "").replace("_", " ")

    def heading(self, title: str) -> None:
        self.doc.ln(3)
        self.doc.set_font(self.family, "B", 12)
        self.doc.set_fill_color(230, 236, 244)
        self.doc.cell(0, 7, self.text(title), fill=True, new_x="LMARGIN", new_y="NEXT")
        self.doc.ln(1)
        self.doc.set_font(self.family, "", 9)

    def facts(self, pairs: list[tuple[str, str]], mono: bool = False) -> None:
        for label, value in pairs:
            self.doc.set_font(self.family, "B", 9)
            self.doc.cell(52, 5, self.text(label))
            self.doc.set_font("DejaVuMono" if mono and self.unicode else self.family, "", 8 if mono else 9)
            self.doc.multi_cell(0, 5, self.text(value), new_x="LMARGIN", new_y="NEXT")
        self.doc.set_font(self.family, "", 9)

    def paragraph(self, label: str, body: str | None) -> None:
        self.doc.set_font(self.family, "B", 9)
        self.doc.multi_cell(0, 5, self.text(label), new_x="LMARGIN", new_y="NEXT")
        self.doc.set_font(self.family, "", 9)
        self.doc.multi_cell(0, 5, self.text(body or "—"), new_x="LMARGIN", new_y="NEXT")
        self.doc.ln(1)

    def note(self, body: str) -> None:
        self.doc.set_text_color(90)
        self.doc.multi_cell(0, 5, self.text(body), new_x="LMARGIN", new_y="NEXT")
        self.doc.set_text_color(0)

    def table(self, headings: list[str], rows: list[list[str]], widths: tuple[int, ...]) -> None:
        if not rows:
            return
        self.doc.set_font(self.family, "", 8)
        head = FontFace(emphasis="BOLD", fill_color=(245, 245, 245))
        with self.doc.table(col_widths=widths, headings_style=head, line_height=4.5, text_align="LEFT") as table:
            table.row([self.text(h) for h in headings])
            for row in rows:
                table.row([self.text(cell) for cell in row])
        self.doc.set_font(self.family, "", 9)
        self.doc.ln(1)
