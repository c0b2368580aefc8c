"""The declaration module (harness/params.py): each constraint accepts exactly what it says,
describes itself, and breaks itself; configs built from declarations are canonical; and
``elasticity config params`` lists every field of every experiment with its help."""

import json
import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from console import run_cli
from harness import overrides, params, presets
from harness.params import Declared, Flag, Grid, Interval, OneOf, Text, param


@given(st.floats(-10, 10), st.floats(-10, 10), st.sampled_from(["both", "low", "high", "neither"]),
       st.floats(-20, 20, allow_nan=False))
def test_an_interval_accepts_exactly_its_range(a, b, closed, x):
    low, high = min(a, b), max(a, b)
    interval = Interval(float, low, high, closed)
    inside = (low < x or (x == low and closed in ("both", "low"))) and (x < high or (x == high and closed in
                                                                                    ("both", "high")))
    assert (interval.check(x) is None) == inside
    for text in interval.breaking():  # every breaking value is refused once read as a config reads it
        try:
            value = overrides.read_real(text, "x")
        except ValueError:
            continue
        assert interval.check(value) is not None, text


def test_integer_intervals_refuse_floats_and_booleans():
    count = Interval(int, 1, 10)
    assert count.check(3) is None and count.check(3.0) and count.check(True) and count.check(11)
    assert count.describe() == "an integer in [1, 10]"
    assert Interval(float, 0.0, None, "neither").describe() == "a number > 0"


def test_a_grid_refuses_values_equal_to_twelve_digits_but_not_thirteen():
    grid = Grid(Interval(float, 0.0, 10.0))
    assert grid.check((1.0, 1.0 + 1e-13)) is not None  # one printed value: refused
    assert grid.check((1.0000001, 1.0000002)) is None  # different to 12 digits: two records, kept
    assert grid.check(()) is not None and Grid(Interval(float), min_length=0).check(()) is None
    assert grid.check((1.0, 11.0)) is not None


@dataclass(frozen=True, kw_only=True)
class _Toy(Declared):
    mode: str = param("a", OneOf(("a", "b")), "which mode")
    weight: float = param(0.0, Interval(float, 0.0, 1.0), "a weight", applies=lambda c: c.mode == "b",
                          when="with mode=b")
    values: tuple[float, ...] = param((1.0, 2.0), Grid(Interval(float, -5.0, 5.0)), "some values")
    flag: bool = param(False, Flag(), "a flag")
    name: str = param("", Text(max_length=3), "a name")


def test_declared_configs_are_canonical_and_refuse_what_does_not_apply():
    toy = _Toy(values=(2.0, -0.0, 1.0))
    assert toy.values == (-0.0, 1.0, 2.0) and math.copysign(1.0, toy.values[0]) == 1.0  # sorted, -0 is 0
    with pytest.raises(ValueError, match="weight applies only with mode=b"):
        _Toy(weight=0.5)
    assert _Toy(mode="b", weight=0.5).weight == 0.5
    with pytest.raises(ValueError, match="name must be at most 3 characters"):
        _Toy(name="abcd")
    with pytest.raises(ValueError, match="flag expected true or false"):
        _Toy(flag=1)


@pytest.mark.parametrize("experiment", sorted(presets.names()))
def test_config_params_lists_every_field_with_help_and_constraint(experiment):
    out = run_cli("config", "params", experiment, "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    config = presets.get(experiment, presets.names()[experiment][0])
    assert [r["name"] for r in rows] == overrides.known_fields(type(config))  # every settable field, once
    for row in rows:
        assert set(row) == {"name", "type", "default", "constraint", "choices", "unit", "help"}
        assert row["help"] and row["constraint"] and row["type"] in (
            "int", "float", "bool", "str", "path", "grid of int", "grid of float", "grid of str")
        assert (row["choices"] is not None) == row["constraint"].startswith("one of")
    assert params.describe(type(config)) == rows
