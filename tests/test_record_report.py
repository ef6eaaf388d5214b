"""`panelbot report case REF`: the case record as a PDF, looked at as a person would — a page rendered
to PNG (pdftoppm) and the text read back (pdftotext) — on both backends."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.flows.commands import RecordDelay
from bot.flows.timelines import plan
from bot.service import Service
from storage import audit_chain
from tests.conftest import ROOT
from tests.helpers import audits
from tests.timeline_support import Run, london, rapid_review

CONFIG = ["--config", str(ROOT / "app.yaml")]
POPPLER = shutil.which("pdftoppm") and shutil.which("pdftotext")
needs_poppler = pytest.mark.skipif(
    not POPPLER and os.environ.get("CI") != "true", reason="poppler-utils (pdftoppm, pdftotext) not installed"
)


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PANELBOT_DATABASE_URL", db_url)
    return db_url


def pdftotext(pdf: Path, *pages: str) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", *pages, str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout


@needs_poppler
async def test_the_case_pdf_reads_as_the_record(service: Service, store: str, tmp_path: Path):
    run = Run(service)
    ref = await rapid_review(run, london(2026, 12, 22, 10, 0))
    await run.at(
        london(2027, 1, 5, 10, 0),
        plan.record_delay,
        RecordDelay(
            by="bm", ref=ref, reason="The police investigation holds the records until the 20th.", expected="2027-01-29"
        ),
    )
    head = await service.read(lambda uow: audit_chain.head_hash(uow.session))
    last_of_case = (await audits(service))[-1].hash

    pdf = tmp_path / "case.pdf"
    result = await asyncio.to_thread(CliRunner().invoke, app, ["report", "case", ref.lower(), "-o", str(pdf), *CONFIG])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")

    png = tmp_path / "page"
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", str(pdf), str(png)], check=True)
    [image] = list(tmp_path.glob("page*.png"))
    assert image.stat().st_size > 20_000  # a page with text on it, not a blank one

    first = pdftotext(pdf, "-f", "1", "-l", "1")
    assert f"Case record {ref}" in first and "Referral" in first and "Dr A Referrer" in first
    text = " ".join(pdftotext(pdf).split())  # one line, whatever the layout's wrapping
    for expected in (
        "la-dsp thinks rapid_review is right for this case.",  # a rationale, in full
        "Nature of the abuse or neglect: Suspected physical abuse.",
        "Method majority",
        "scrutineer concur",
        "Scrutiny",
        "Timeline",
        "on time",
        "The police investigation holds the records until the 20th.",
        "2027-01-29",
        "vote request",
        f"Chain head hash {head}",
        f"This case's last event hash {last_of_case}",
    ):
        assert expected in text, expected
    for secret in ("Zebedee", "Quixotic", "Secret Lane", "referrer@example.org"):
        assert secret not in text  # Part A section 4 and contact details stay out


def test_an_unknown_case_is_one_line(store: str, tmp_path: Path):
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(app, ["report", "case", "TSCP-2099-999", "-o", str(tmp_path / "x.pdf"), *CONFIG])
    assert result.exit_code == 2 and "no case" in result.output and not (tmp_path / "x.pdf").exists()
