"""Plain-data configs: built from mappings or YAML, changed by nested ``--set`` overrides,
written out as YAML, compared field by field.

A config is a frozen ``kw_only`` dataclass whose fields are int, float, str, bool, tuples of
those, or another config. Values are converted by the field's annotation and every float
must be finite; the dataclass's own ``__post_init__`` then checks ranges, so a config that
exists is a valid one. Nothing read here can run code (YAML through ``yaml.safe_load``).
"""

import dataclasses
import math
import typing
from pathlib import Path


def as_plain(config) -> dict:
    """The config as plain JSON/YAML data (tuples become lists)."""
    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(dataclasses.asdict(config))


def from_dict(cls, data, where: str = "config"):
    """Build ``cls`` from a mapping; unknown fields and values of the wrong type are refused
    with a message that names the field."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping of fields, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}; known: {', '.join(names)}")
    values = {name: _convert(hints[name], value, f"{where}.{name}" if where != "config" else name)
              for name, value in data.items()}
    try:
        return cls(**values)
    except ValueError as err:
        if where == "config":
            raise
        raise ValueError(f"{where}: {err}") from None


def _convert(kind, value, name: str):
    if dataclasses.is_dataclass(kind):
        return value if isinstance(value, kind) else from_dict(kind, value, name)
    if typing.get_origin(kind) is tuple:
        inner = typing.get_args(kind)[0]
        if isinstance(value, str):
            items = [s.strip() for s in value.split(",")] if value.strip() else []
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        return tuple(_convert(inner, item, name) for item in items)
    if kind is bool:
        return _boolean(value, name)
    if kind is int:
        return _integer(value, name)
    if kind is float:
        return _real(value, name)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected text, got {value!r}")
        return value
    raise TypeError(f"{name}: unsupported field type {kind}")  # a bug in a config class


def _boolean(value, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"{name}: cannot read {value!r} as true/false")


def _integer(value, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    try:
        number = float(value)  # accepts "1e4" from a command line or YAML
    except (TypeError, ValueError):
        raise ValueError(f"{name}: cannot read {value!r} as an integer") from None
    if not (math.isfinite(number) and number.is_integer()):
        raise ValueError(f"{name}: cannot read {value!r} as an integer")
    if abs(number) > 2**53:  # above this a float no longer holds every integer
        raise ValueError(f"{name}: {value!r} is too large")
    return int(number)


def _real(value, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: cannot read {value!r} as a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{name}: must be a finite number, got {value!r}")
    return number


def with_overrides(config, assignments) -> object:
    """``config`` with ``field=value`` assignments applied; nested fields by dots
    (``world.n_pre=5000``), tuples comma-separated (``q1=50,200``). The result is built
    and validated as a whole, so fields that constrain each other are checked together."""
    data = dataclasses.asdict(config)
    for item in assignments:
        name, sep, value = str(item).partition("=")
        if not sep or not name:
            raise ValueError(f"--set expects FIELD=VALUE, got {item!r}")
        _assign(type(config), data, name.strip().split("."), value, name)
    return from_dict(type(config), data)


def given(**fields) -> list[str]:
    """``field=value`` assignments for the options a user gave (empty, None and False are
    "not given"; a 0 is a default too)."""
    return [f"{name}={value}" for name, value in fields.items() if value not in ("", None, False)]


def _assign(cls, data: dict, parts: list[str], value: str, full: str) -> None:
    names = [f.name for f in dataclasses.fields(cls)]
    head = parts[0]
    if head not in names:
        raise ValueError(f"--set: unknown field {full!r}; known: {', '.join(known_fields(cls))}")
    kind = typing.get_type_hints(cls)[head]
    if len(parts) == 1:
        if dataclasses.is_dataclass(kind):
            raise ValueError(f"--set: {full!r} is a group of fields; set {full}.FIELD")
        data[head] = value
        return
    if not dataclasses.is_dataclass(kind):
        raise ValueError(f"--set: unknown field {full!r}; {head!r} has no sub-fields")
    _assign(kind, data[head], parts[1:], value, full)


def known_fields(cls, prefix: str = "") -> list[str]:
    """Every settable field of ``cls``, nested ones dotted."""
    out = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            out += known_fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def to_yaml(config) -> str:
    import yaml

    return yaml.safe_dump(as_plain(config), sort_keys=False, default_flow_style=None)


def load_yaml(cls, path):
    """A config from a YAML file of fields (any omitted field keeps its default)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"--config {path}: cannot read ({err.strerror or err})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"--config {path}: not valid YAML ({str(err).splitlines()[0]})") from None
    try:
        return from_dict(cls, data if data is not None else {})
    except ValueError as err:
        raise ValueError(f"--config {path}: {err}") from None


def differing_fields(a, b, prefix: str = "") -> list[str]:
    """Dotted names of the fields whose values differ between two plain mappings."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{prefix}{key}")
            else:
                out += differing_fields(a[key], b[key], f"{prefix}{key}.")
        return out
    return [] if a == b else [prefix.rstrip(".") or "(value)"]
