"""Every number in README.md and docs/*.md is accounted for (tools/docs_tables.py, the inventory):
generated from a committed file (a result, docs/measurements.json, the theory's code), declared
as the quote of one committed value (docs/number-sources.json: a fixture's field, a preset's
field, a module's constant, a literal in a committed file, a measurement record), or a structural
or reviewed non-measurement (STRUCTURAL, ALLOWED), each with its reason."""

import importlib.util
import json
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("docs_tables", ROOT / "tools" / "docs_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows(tables):
    return tables.inventory()


def test_every_number_in_the_docs_is_accounted_for(rows):
    problems = [f"{name}:{line}: {number}: {problem}" for name, line, number, _, problem in rows if problem]
    assert not problems, ("numbers without a committed source (generate them, or declare one with "
                          "`tools/docs_tables.py --declare` and review it):\n" + "\n".join(problems))
    assert len(rows) > 300  # the inventory reads the docs at all (about 700 numbers outside generated text)


def test_every_document_is_inventoried(tables, rows):
    assert {r[0] for r in rows} == {p.relative_to(ROOT).as_posix() for p in tables.ALL_DOCS}
    assert {p.name for p in tables.ALL_DOCS} >= {"README.md", "errata.md", "experiments.md", "design.md",
                                                  "glossary.md", "simulation.md"}


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize("doc, old, new", [
    ("docs/errata.md", "(0.0372 at alpha = 2)", "(0.0373 at alpha = 2)"),  # a fixture's value
    ("docs/glossary.md", "fewer than 10 seeds", "fewer than 5 seeds"),  # a constant of elasticity/findings.py
    ("README.md", "depth <= 25", "depth <= 26"),  # sim.limits.MAX_DEPTH
    ("docs/experiments.md", "(seeds 200-215, disjoint", "(seeds 200-216, disjoint"),  # the k-axis preset
    ("docs/design.md", "transformers 5.24", "transformers 5.25"),  # constraints-cpu.txt
])
def test_an_edited_number_is_caught(tables, doc, old, new):
    """Each kind of declared source, broken on purpose: the edited number is no longer accounted for."""
    path = ROOT / doc
    edited = _edit(path.read_text(), old, new)
    rows = tables.inventory([path], text_of=lambda p: edited)
    assert any(problem for *_, problem in rows), f"{doc}: {old!r} -> {new!r} went unnoticed"


def test_a_new_number_in_prose_is_caught(tables):
    path = ROOT / "docs" / "simulation.md"
    edited = path.read_text().replace("## Huffman codes\n", "## Huffman codes\n\nThe merge runs 7.3x faster here.\n")
    problems = [r for r in tables.inventory([path], text_of=lambda p: edited) if r[4]]
    assert [r[2] for r in problems] == ["7.3"]


def test_a_changed_source_value_is_caught(tables, monkeypatch):
    """The other direction: the docs unchanged, a declared source's value moved (a regenerated fixture,
    a changed constant): the quoted number no longer matches it."""
    real = tables._source

    def moved(name):
        values = real(name)
        return {k: (v * 1.5 if name == "module:sim.limits" else v) for k, v in values.items()}

    monkeypatch.setattr(tables, "_source", moved)
    path = ROOT / "README.md"
    problems = [r for r in tables.inventory([path]) if r[4]]
    assert "25" in {r[2] for r in problems}  # `sim check` depth <= 25: sim.limits.MAX_DEPTH


def test_every_declared_source_is_used(tables):
    """No stale entry: each declaration of docs/number-sources.json names a number the docs print
    where it says."""
    located = {(name, heading, context, printed + ("%" if percent else ""))
               for name, _, heading, context, printed, percent, reason, _ in tables._located() if reason is None}
    entries = json.loads(tables.NUMBER_SOURCES.read_text())["numbers"]
    unused = [e for e in entries if (e["doc"], e["section"], e["context"], e["number"]) not in located]
    assert not unused, unused[:5]
    assert len({(e["doc"], e["section"], e["context"], e["number"]) for e in entries}) == len(entries)


def test_the_allowed_list_is_small_and_every_entry_is_used(tables):
    assert len(tables.ALLOWED) <= 20, "the allow-list is for the few numbers no source can hold"
    for doc, snippet, reason in tables.ALLOWED:
        assert len(reason) > 20, snippet
        assert snippet in tables.prose((ROOT / doc).read_text()), f"{doc}: {snippet!r} is not in the prose"
    for pattern, reason in tables.STRUCTURAL:
        assert len(reason) > 10 and re.compile(pattern)


def test_every_measurement_has_its_provenance(tables):
    """docs/measurements.json: each time, speed or score with the command that measured it, the
    commit (in this repository's history), the machine (described in the file) and the date."""
    doc = tables.measurements()
    for record in doc["records"]:
        shown = record.get("text") or " | ".join(record["row"])
        if "not run yet" in shown:
            continue
        for field in ("command", "commit", "machine", "date"):
            assert record.get(field), f"{record['id']}: no {field}"
        assert record["machine"] in doc["machines"], record["id"]
        assert date.fromisoformat(record["date"]) <= date(2026, 12, 31), record["id"]
        known = subprocess.run(["git", "cat-file", "-e", f"{record['commit']}^{{commit}}"], cwd=ROOT,
                               capture_output=True)
        assert known.returncode == 0, f"{record['id']}: commit {record['commit']} is not in this history"
    for name, table in doc["tables"].items():
        assert table["rows"] and all(tables._record(i)["row"] for i in table["rows"]), name


def test_a_measurement_span_edited_in_the_docs_is_caught(tables):
    text = (ROOT / "README.md").read_text()
    edited = _edit(text, "16 s measured in a fresh clone", "12 s measured in a fresh clone")
    assert tables.rewritten(edited) != edited


def test_every_committed_fixture_was_made_in_the_portable_mode():
    """docs/design.md says so: each result's per-seed numbers are the same on any x86-64 CPU."""
    for path in sorted((ROOT / "tests" / "fixtures" / "results").rglob("result.json")):
        assert json.loads(path.read_text())["provenance"].get("numerics") == "portable", path
