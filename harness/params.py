"""Declared parameters: each config field carries its constraint, unit and one line of help as
dataclass field metadata (scikit-learn's ``_parameter_constraints`` idea), so that the check,
the CLI's help, ``elasticity config params`` and the bad-input tests all read one declaration.

A constraint can ``check`` a value (returning what is wrong, or None), ``describe`` itself for
help and messages, and give ``breaking`` values (as ``--set`` text) that it must refuse.
``Declared`` is the base of every config: when one is built it makes floats canonical (-0.0 is
0.0: one value, one fingerprint), sorts grids (order carries no meaning), checks every declared
field, refuses a field set away from its default where it does not apply, then runs the
config's few cross-field rules (``check``). A config that exists is valid: nothing downstream
checks again.
"""

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

SIGNIFICANT_DIGITS = 12  # grid values equal to this many digits are one value (a float-key collision)


@dataclass(frozen=True)
class Interval:
    """A number (``kind`` int or float) in a range; None is an open end at infinity."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # which finite ends belong: "both", "low", "high" or "neither"

    def check(self, value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float else int):
            return f"expected {'a number' if self.kind is float else 'an integer'}"
        if isinstance(value, float) and not math.isfinite(value):  # math.isfinite overflows on huge ints
            return "must be a finite number"
        low_ok = self.low is None or value > self.low or (value == self.low and self.closed in ("both", "low"))
        high_ok = self.high is None or value < self.high or (value == self.high and self.closed in ("both", "high"))
        return None if low_ok and high_ok else f"must be {self.describe()}"

    def describe(self) -> str:
        what = "an integer" if self.kind is int else "a number"
        lo = None if self.low is None else ("[" if self.closed in ("both", "low") else "(") + _number(self.low)
        hi = None if self.high is None else _number(self.high) + ("]" if self.closed in ("both", "high") else ")")
        if lo and hi:
            return f"{what} in {lo}, {hi}"
        if lo:
            return f"{what} {'>=' if lo[0] == '[' else '>'} {lo[1:]}"
        if hi:
            return f"{what} {'<=' if hi[-1] == ']' else '<'} {hi[:-1]}"
        return what

    def breaking(self) -> list[str]:
        out = ["abc", "nan", "inf"] + (["1.5", "true"] if self.kind is int else [])
        if self.low is not None:
            out.append(self._text(self.low - 1 if self.closed in ("both", "low") else self.low))
        if self.high is not None:
            out.append(self._text(self.high + 1 if self.closed in ("both", "high") else self.high))
        return out

    def _text(self, x) -> str:
        return str(int(x)) if self.kind is int else repr(float(x))


def _number(x) -> str:
    return str(x) if isinstance(x, int) else f"{x:g}"


@dataclass(frozen=True)
class OneOf:
    """One of a set of values (text, or numbers)."""

    values: tuple

    def check(self, value) -> str | None:
        return None if value in self.values and type(value) is type(self.values[0]) else f"must be {self.describe()}"

    def describe(self) -> str:
        return "one of " + ", ".join(map(str, self.values))

    def breaking(self) -> list[str]:
        return ["no-such-" + str(self.values[0])]


@dataclass(frozen=True)
class Flag:
    def check(self, value) -> str | None:
        return None if isinstance(value, bool) else "expected true or false"

    def describe(self) -> str:
        return "true or false"

    def breaking(self) -> list[str]:
        return ["maybe"]


@dataclass(frozen=True)
class Text:
    """Free text (``path``: a file or folder on this machine, checked where it is read)."""

    path: bool = False
    max_length: int = 4096

    def check(self, value) -> str | None:
        if not isinstance(value, str):
            return "expected text"
        return None if len(value) <= self.max_length else f"must be at most {self.max_length} characters"

    def describe(self) -> str:
        return "a path" if self.path else "text"

    def breaking(self) -> list[str]:
        return ["x" * (self.max_length + 1)]


@dataclass(frozen=True)
class Grid:
    """A tuple of values, each meeting ``item``: sorted when the config is built, no duplicates,
    no two equal to 12 significant digits (they would be one value wherever it is printed)."""

    item: Interval | OneOf
    min_length: int = 1
    max_length: int = 10_000  # beyond, a typo that would exhaust the machine (200,000 seeds)

    def check(self, value) -> str | None:
        if not isinstance(value, tuple):
            return "expected a list"
        if not self.min_length <= len(value) <= self.max_length:
            return f"needs {self.min_length} to {self.max_length} values"
        for v in value:
            if self.item.check(v):
                return f"has a value {v!r} that is not {self.item.describe()}"
        rounded = [f"{v:.{SIGNIFICANT_DIGITS}g}" if isinstance(v, float) else v for v in value]
        counts = Counter(rounded)  # linear: a 10,000-value grid is checked at once
        repeated = sorted({v for v, r in zip(value, rounded, strict=True) if counts[r] > 1}, key=str)
        return f"has equal values {repeated} (to {SIGNIFICANT_DIGITS} digits): each value once" if repeated else None

    def describe(self) -> str:
        least = {0: "(possibly empty) ", 1: ""}.get(self.min_length, f"{self.min_length} or more ")
        return f"a list of {least}distinct values, each {self.item.describe()}"

    def breaking(self) -> list[str]:
        out = [f"{v},1" for v in self.item.breaking() if "," not in v]
        if isinstance(self.item, Interval):
            x = self._inside()
            out.append(f"{x!r},{x!r}")
            if self.item.kind is float:  # equal to 12 digits, distinct as floats: one printed value
                out.append(f"{float(x)!r},{float(x) * (1 + 1e-13)!r}")
            if self.min_length >= 2:
                out.append(repr(x))  # too few values
        if self.min_length >= 1:
            out.append("")  # an empty grid
        return out

    def _inside(self):
        """A value strictly inside the item's range (so its near-duplicate stays in range)."""
        low, high = self.item.low, self.item.high
        if low is not None and high is not None:
            x = (low + high) / 2
        else:
            x = low + 1 if low is not None else high - 1 if high is not None else 1
        return x if self.item.kind is float else int(x)


@dataclass(frozen=True)
class Param:
    """One field's declaration."""

    constraint: Interval | OneOf | Flag | Text | Grid
    help: str
    unit: str | None = None
    applies: Callable[[Any], bool] | None = None  # where the field means something (None: always)
    applies_when: str = ""  # that condition in words, for the refusal


def param(default, constraint, help: str, *, unit: str | None = None, applies=None, when: str = ""):
    """A dataclass field with its declaration in the metadata."""
    return field(default=default, metadata={"param": Param(constraint, help, unit, applies, when)})


def declared(config) -> list[tuple[str, Param, Any]]:
    """(name, declaration, value) of every declared field, in order."""
    return [(f.name, f.metadata["param"], getattr(config, f.name)) for f in fields(config) if "param" in f.metadata]


def _floats(constraint) -> bool:
    """Whether a field's values are floats (an int given for one is the same number as a float)."""
    item = constraint.item if isinstance(constraint, Grid) else constraint
    return isinstance(item, Interval) and item.kind is float


def _canonical(value, as_float: bool = False):
    if as_float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)  # 1 and 1.0: one value, one fingerprint
    if isinstance(value, float):
        return value + 0.0  # -0.0 + 0.0 is 0.0
    if isinstance(value, tuple):
        items = tuple(_canonical(v, as_float) for v in value)
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)
        return tuple(sorted(items)) if numbers else items
    return value


def _shown(value) -> str:
    """A value as the user wrote it (repr keeps every digit: 100.0000001, not 100); long text and
    long lists cut, with their length."""
    if isinstance(value, str) and len(value) > 80:
        return f"{value[:40]!r}... ({len(value)} characters)"
    if isinstance(value, tuple):
        shown = ", ".join(map(repr, value[:20])) + (f", ... ({len(value)} values)" if len(value) > 20 else "")
        return f"[{shown}]"
    return repr(value)


class Declared:
    """Base of every config: declared checks when built, then ``check`` (cross-field rules)."""

    def __post_init__(self):
        for f in fields(self):
            if "param" in f.metadata:
                object.__setattr__(self, f.name, _canonical(getattr(self, f.name),
                                                            _floats(f.metadata["param"].constraint)))
        for name, p, value in declared(self):
            if problem := p.constraint.check(value):
                raise ValueError(f"{name} {problem}, got {_shown(value)}; {name} accepts {p.constraint.describe()}"
                                 if not problem.startswith("must be") else f"{name} {problem}, got {_shown(value)}")
        defaults = {f.name: f.default for f in fields(self)}
        for name, p, value in declared(self):
            if p.applies is not None and value != defaults[name] and not p.applies(self):
                raise ValueError(f"{name} applies only {p.applies_when}; here it would not be used "
                                 f"(got {_shown(value)})")
        self.check()

    def check(self) -> None:
        """Rules between fields; a subclass raises ValueError naming them."""


def _type_name(constraint) -> str:
    if isinstance(constraint, Grid):
        inner = constraint.item.kind.__name__ if isinstance(constraint.item, Interval) else "str"
        return f"grid of {inner}"
    if isinstance(constraint, Text):
        return "path" if constraint.path else "str"
    return {Flag: "bool"}.get(type(constraint)) or (constraint.kind.__name__ if isinstance(constraint, Interval)
                                                    else type(constraint.values[0]).__name__)


def declarations(cls, prefix: str = "") -> list[tuple[str, Param, Any]]:
    """(dotted name, declaration, default) of every settable field of config class ``cls`` (or
    of a config's class), the default as the experiment builds it (a nested config's default is
    the experiment's own, e.g. its world's sizes, not the nested class's)."""
    config = cls() if isinstance(cls, type) else cls
    out = []
    for f in fields(config):
        value = getattr(config, f.name)
        if "param" in f.metadata:
            out.append((prefix + f.name, f.metadata["param"], value))
        else:  # a nested config: its own fields, dotted
            out += declarations(value, f"{prefix}{f.name}.")
    return out


def describe(cls) -> list[dict]:
    """Every settable field of config class ``cls`` (nested ones dotted, as ``--set`` takes
    them): name, type, default, constraint, choices, unit and help."""
    out = []
    for name, p, default in declarations(cls):
        c = p.constraint
        out.append({"name": name, "type": _type_name(c),
                    "default": list(default) if isinstance(default, tuple) else default,
                    "constraint": c.describe() + (f"; applies only {p.applies_when}" if p.applies else ""),
                    "choices": list(c.values) if isinstance(c, OneOf) else None, "unit": p.unit, "help": p.help})
    return out
