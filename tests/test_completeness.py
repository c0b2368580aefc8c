"""Every experiment is registered everywhere it must appear (the analogue of scikit-learn's
estimator checks): adding an experiment to the presets without its schema, export summary and
axes, report table, figures, findings reader or CLI command fails here, naming what is missing.
docs/design.md lists the same places ("Adding an experiment")."""

import pytest

from elasticity import cli, export, findings, report
from figures import build
from harness import presets, schemas

REGISTRIES = {
    "schema (harness/schemas.py)": lambda: set(schemas.SCHEMAS) | set(schemas.DYNAMIC),
    "export summary (elasticity/export.py SUMMARIES)": lambda: set(export.SUMMARIES),
    "export axes (elasticity/export.py AXES)": lambda: set(export.AXES),
    "report table (elasticity/report.py TABLES)": lambda: set(report.TABLES),
    "figures (figures/build.py PER_RESULT)": lambda: {name for name, _ in build.PER_RESULT},
    "the command that makes it (figures/build.py MAKES)": lambda: set(build.MAKES),
    "findings (elasticity/findings.py READERS)": lambda: set(findings.READERS),
    "CLI command (elasticity/cli.py)": lambda: set(cli.cli.commands),
}


def missing(experiment: str) -> list[str]:
    """The registries that lack ``experiment``."""
    return [name for name, registered in REGISTRIES.items() if experiment not in registered()]


@pytest.mark.parametrize("experiment", sorted(presets.names()))
def test_every_experiment_is_registered_everywhere(experiment):
    assert missing(experiment) == []


def test_a_forgotten_registry_is_named(monkeypatch):
    assert missing("fake-experiment") == list(REGISTRIES)  # a new experiment registered nowhere
    monkeypatch.delitem(export.SUMMARIES, "resist")
    assert missing("resist") == ["export summary (elasticity/export.py SUMMARIES)"]
    monkeypatch.delitem(findings.READERS, "counterfactual")
    assert missing("counterfactual") == ["findings (elasticity/findings.py READERS)"]
