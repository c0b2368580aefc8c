"""Bad inputs generated from the declarations (harness/params.py): for every field of every
experiment, each value its constraint says it refuses, given as ``--set FIELD=VALUE``, ends with
exit status 2, one line on stderr that names the field, no traceback, and nothing written. And
a field set where it does not apply is refused, not recorded. Replaces a hand-listed table: a
field added to a config is covered the day it is declared."""

import pytest

from elasticity.cli import main
from harness import params, presets
from harness.params import Flag, Grid, Interval, OneOf, Text

EXPERIMENTS = tuple(presets.names())  # every experiment with presets


def _fields(experiment: str):
    return params.declarations(type(presets.get(experiment, "micro")))


CASES = [(e, name, value) for e in EXPERIMENTS for name, p, _ in _fields(e) for value in p.constraint.breaking()]
FIELD_COUNT = sum(len(_fields(e)) for e in EXPERIMENTS)
print(f"declared-input battery: {len(CASES)} cases over {FIELD_COUNT} declared fields")  # shown with pytest -s


def _valid_other(p: params.Param, default):
    """A value the constraint accepts that differs from the default (to test applicability)."""
    c = p.constraint
    if isinstance(c, Flag):
        return str(not default).lower()
    if isinstance(c, OneOf):
        return next(str(v) for v in c.values if v != default)
    if isinstance(c, Text):
        return "somewhere"
    if isinstance(c, Interval):
        high = c.high if c.high is not None else (c.low or 0) + 10
        middle = ((c.low or 0) + high) / 2
        value = int(middle) if c.kind is int else middle
        return str(value if value != default else (c.low or 0) + (1 if c.kind is int else 0.25))
    raise AssertionError(f"no other value for {c}")


def _owner(config, name: str):
    """The (nested) config that holds a dotted field."""
    for part in name.split(".")[:-1]:
        config = getattr(config, part)
    return config


APPLICABILITY = [(e, name, _valid_other(p, default)) for e in EXPERIMENTS for name, p, default in _fields(e)
                 if p.applies is not None and not isinstance(p.constraint, Grid)
                 and not p.applies(_owner(presets.get(e, "micro"), name))]


def _refused(tmp_path, monkeypatch, capsys, experiment: str, assignment: str) -> str:
    monkeypatch.chdir(tmp_path)
    status = main([experiment, "--preset", "micro", "--set", assignment, "--results", str(tmp_path / "results")])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert status == 2, (assignment, err)
    assert len(lines) == 1 and lines[0].startswith("elasticity: error:") and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == [], "a refused input must write nothing"
    return lines[0]


def test_every_declared_field_is_covered():
    covered = {(e, name) for e, name, _ in CASES}
    assert covered == {(e, name) for e in EXPERIMENTS for name, _, _ in _fields(e)}
    assert FIELD_COUNT >= 100  # the three experiments declare about 120 fields; a lost config would show here


@pytest.mark.parametrize("experiment, name, value", CASES, ids=[f"{e}:{n}={v[:20]}" for e, n, v in CASES])
def test_a_value_outside_the_declaration_is_refused(tmp_path, monkeypatch, capsys, experiment, name, value):
    line = _refused(tmp_path, monkeypatch, capsys, experiment, f"{name}={value}")
    assert name.rsplit(".", 1)[-1] in line  # the message names the field


@pytest.mark.parametrize("experiment, name, value", APPLICABILITY, ids=[f"{e}:{n}" for e, n, _ in APPLICABILITY])
def test_a_field_that_does_not_apply_is_refused_not_recorded(tmp_path, monkeypatch, capsys, experiment, name,
                                                             value):
    line = _refused(tmp_path, monkeypatch, capsys, experiment, f"{name}={value}")
    assert f"{name.rsplit('.', 1)[-1]} applies only" in line
