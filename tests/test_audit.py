"""The audit: every claim gets a verdict from the numbers, and docs/errata.md agrees with it."""

import re
from pathlib import Path

import pytest

from theory import audit

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def findings():
    return {f.claim: f for f in audit.run_audit()}


def test_every_claim_has_a_verdict_and_evidence(findings):
    assert list(findings) == list(audit.CLAIMS)
    for f in findings.values():
        assert f.verdict in ("holds", "asymptotic", "erratum")
        assert re.search(r"\d", f.evidence), f.claim  # evidence carries numbers


def test_theta_k_claim_fails_in_ratio_form(findings):
    """(33): both slopes are Theta(1/k), so dgamma_2/(k dgamma_1) decays like 1/k; the audit
    must measure an exponent near -1 (not 0, which Theta(k) would give)."""
    assert findings["eq33"].verdict == "erratum"
    exponent = float(re.search(r"k\^(-?\d+\.\d+)", findings["eq33"].evidence).group(1))
    assert -1.2 < exponent < -0.8


def test_limits_are_asymptotic_with_rates(findings):
    for claim in ("eq77", "eq81", "eq85", "eq91"):
        assert findings[claim].verdict == "asymptotic", findings[claim].evidence
        assert "rate k^-" in findings[claim].evidence


def test_sign_of_dgamma2_has_a_counterexample_above_alpha_star(findings):
    f = findings["eq35"]
    assert f.verdict == "erratum"
    negatives = [row for row in f.details["values"] if row[3] <= 0]
    assert negatives and all(row[0] > 2.5 for row in negatives)


def test_corrected_formulas_match_exact(findings):
    """The corrected (88) and (95) agree with the exact values at k = 1e5 to 1e-3."""
    for claim in ("eq88", "eq95"):
        pattern = r"corrected: .*\(rel\. error ([0-9.e+-]+) at k="
        rel = float(re.search(pattern, findings[claim].evidence).group(1))
        assert rel < 1e-3, (claim, rel)


def test_every_claim_is_stated_in_words():
    assert set(audit.STATEMENTS) == set(audit.CLAIMS)
    assert all(len(s) > 30 and "|" not in s for s in audit.STATEMENTS.values())


def test_errata_document_matches_audit(findings):
    """docs/errata.md holds the audit table; its verdicts must be today's verdicts."""
    text = (ROOT / "docs" / "errata.md").read_text()
    rows = dict(re.findall(r"^\| (\S+) \| [^|]+ \| (holds|asymptotic|erratum) \|", text, flags=re.M))
    assert rows == {c: f.verdict for c, f in findings.items()}
