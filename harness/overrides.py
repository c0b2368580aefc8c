"""Plain-data configs: built from mappings or YAML, changed by nested ``--set`` overrides,
written out as YAML, compared field by field.

A config is a frozen ``kw_only`` dataclass whose fields are int, float, str, bool, tuples of
those, or another config. Values are converted by the field's annotation and every float
must be finite; the dataclass's own ``__post_init__`` then checks ranges, so a config that
exists is a valid one. Nothing read here can run code (YAML through ``yaml.safe_load``).
"""

import dataclasses
import decimal
import math
import re
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
    declared = {f.name: f.metadata.get("param") for f in dataclasses.fields(cls)}
    values = {}
    for name, value in data.items():
        label = f"{where}.{name}" if where != "config" else name
        try:
            values[name] = _convert(hints[name], value, label)
        except ValueError as err:  # say what the field accepts, not only what went wrong
            accepts = declared[name] and f"; {label} accepts {declared[name].constraint.describe()}"
            raise ValueError(f"{err}{accepts or ''}") from None
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


_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def _integer(value, name: str) -> int:
    """An exact integer: an int, digits (``12``), or a number written exactly as an integer
    (``1e4``, ``2.0``); never through a float, so 9007199254740993 stays itself. A fraction,
    underscores, non-ASCII digits and floats beyond 2^53 are refused."""
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:  # 2^53 may be a rounded 2^53 + 1
            return int(value)
        raise ValueError(f"{name}: {value!r} is not exactly an integer (a float from 2^53 on may have lost digits)")
    text = str(value).strip()
    if _INTEGER.fullmatch(text) and len(text.lstrip("+-")) <= 25:  # beyond 1e24: surely a typo
        return int(text)
    if _DECIMAL.fullmatch(text) and len(text) <= 100:
        number = decimal.Decimal(text)
        if number == number.to_integral_value() and abs(number) <= 10**24:
            return int(number)
    raise ValueError(f"{name}: cannot read {value!r} as an integer")


def read_integer(value, name: str) -> int:
    """An exact integer, read as config fields are (the CLI's integer options use it too)."""
    return _integer(value, name)


def read_real(value, name: str) -> float:
    """A finite number from ASCII decimal text, read as config fields are."""
    return _real(value, name)


def _real(value, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    text = str(value).strip()
    if isinstance(value, (int, float)):
        number = float(value)
    elif _DECIMAL.fullmatch(text) or text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        number = float(text)  # digits only: no underscores, no non-ASCII digits, no other words
    else:
        raise ValueError(f"{name}: cannot read {value!r} as a number")
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


def combined(options: list[str], assignments) -> list[str]:
    """A command's options (``given``) and its --set assignments as one list, refusing a field
    given both ways: which one would win is a guess, so neither is run silently."""
    twice = sorted({o.partition("=")[0] for o in options} & {str(a).partition("=")[0].strip() for a in assignments})
    if twice:
        raise ValueError(f"{twice[0]} is given both as --{twice[0].replace('_', '-')} and as --set {twice[0]}=...; "
                         f"give it once")
    return [*options, *assignments]


def given(**fields) -> list[str]:
    """``field=value`` assignments for the options a user gave (None, "" and False are "not
    given"; 0 is a value: ``--lora-rank 0`` asks for full fine-tuning)."""
    return [f"{name}={value}" for name, value in fields.items() if not (value is None or value is False or value == "")]


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


def _strict_loader():
    """yaml's SafeLoader, refusing duplicate keys and keys that are not text."""
    import yaml

    class Strict(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            keys = []
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    raise yaml.constructor.ConstructorError(None, None, f"a key must be text, got {key!r}",
                                                            key_node.start_mark)
                if key in keys:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}",
                                                            key_node.start_mark)
                keys.append(key)
            return super().construct_mapping(node, deep)

    return Strict


def load_yaml(cls, path):
    """A config from a YAML file of fields (any omitted field keeps its default); duplicate
    keys and keys that are not text are refused."""
    import yaml

    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_strict_loader())  # noqa: S506 (safe subclass)
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
