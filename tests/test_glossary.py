"""The glossary (docs/glossary.md, linked from the report and the --help texts) defines every
symbol and term the report prints: each one listed here must appear in the report built from
the committed results (so the list is the report's, not a wish list) and be defined in the
glossary as a bold term."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GLOSSARY = (ROOT / "docs" / "glossary.md").read_text()
# the report's symbols and terms, each with the spelling the glossary defines it under
SYMBOLS = {"D_pre": "D_pre", "D_align": "D_align", "Q1": "Q1", "Q2": "Q2",
           "alpha": "alpha", "gamma_": "gamma_j", "N_": "N_j", "effective k": "Effective k",
           "operating point": "Operating point", "valid mass": "Valid mass", "margin": "SESOI / margin",
           "anchor_beta": "beta", "Holm": "Holm p", "minimal detectable effect": "Minimal detectable effect",
           "excess": "Excess", "smoke test": "Smoke run", "nominal k": "k"}


@pytest.fixture(scope="module")
def report_text(tmp_path_factory):
    from elasticity import report
    from figures.build import build_all

    out = tmp_path_factory.mktemp("report")
    built, skipped = build_all(ROOT / "tests" / "fixtures" / "results", out / "figures")
    page, md = report.write(ROOT / "tests" / "fixtures" / "results", built, skipped, out / "figures",
                            out=out / "report")
    return Path(md).read_text()


@pytest.mark.parametrize("printed, term", sorted(SYMBOLS.items()))
def test_every_symbol_the_report_prints_is_in_the_glossary(report_text, printed, term):
    assert printed.lower() in report_text.lower(), f"{printed!r} is not in the report: drop it from the list"
    assert re.search(rf"\*\*{re.escape(term)}\*\*", GLOSSARY), f"{term!r} is not defined in docs/glossary.md"


def test_the_report_and_the_help_link_the_glossary(report_text):
    from click.testing import CliRunner

    from elasticity.cli import cli

    assert "glossary" in report_text.lower()
    assert "docs/glossary.md" in CliRunner().invoke(cli, ["--help"]).output
