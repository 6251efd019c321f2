"""Typed YAML configs: parse plain mappings into dataclasses, strictly.

Unknown keys and wrong types fail with the dotted path of the key, so a
misspelt option never silently falls back to a default. Components (networks,
samplers, loss terms, ...) are dataclasses deriving from
:class:`ComponentConfig`; their ``name`` picks the concrete dataclass through the
component's :class:`~sdfrecon.base.registry.Registry`.
"""

from __future__ import annotations

import dataclasses
import types
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from sdfrecon.base.errors import ConfigError
from sdfrecon.base.registry import Registry


@dataclass
class ComponentConfig:
    """Base of configs for components chosen by ``name`` from a registry."""

    name: str = ""
    """Registered component name."""

    registry: ClassVar[Registry | None] = None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _parse(tp: Any, value: Any, path: str, key_name: str | None = None) -> Any:
    """Check ``value`` against annotation ``tp`` and convert it; ``path`` names it in errors."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        options = get_args(tp)
        if value is None:
            if type(None) in options:
                return None
            raise ConfigError(f"{path}: must not be null")
        candidates = [o for o in options if o is not type(None)]
        structured = [o for o in candidates if is_dataclass(o) or get_origin(o) is dict]
        if isinstance(value, dict) and len(structured) == 1:
            # Only one option takes a mapping: its own (more precise) error is the useful one.
            return _parse(structured[0], value, path, key_name)
        for option in sorted(candidates, key=lambda o: o in structured):
            try:
                return _parse(option, value, path, key_name)
            except ConfigError:
                continue
        raise ConfigError(f"{path}: expected {' or '.join(_type_name(o) for o in candidates)}, got {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{path}: must be one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{path}: expected {len(args)} items, got {len(value)}")
            return tuple(_parse(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item_tp = args[0] if args else Any
        items = [_parse(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        key_tp, val_tp = get_args(tp) or (Any, Any)
        return {
            _parse(key_tp, k, f"{path}"): _parse(val_tp, v, f"{path}.{k}", key_name=str(k))
            for k, v in value.items()
        }
    if isinstance(tp, type) and is_dataclass(tp):
        return from_dict(tp, value, path, key_name=key_name)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            # YAML reads "1e-3" (no dot) as a string; accept numeric strings.
            if isinstance(value, str):
                try:
                    return float(value)
                except ValueError:
                    pass
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{path}: unsupported config annotation {tp!r}")


def from_dict(cls: type, data: Any, path: str = "", key_name: str | None = None) -> Any:
    """Build dataclass ``cls`` from mapping ``data``, checking every key and type.

    Parameters
    ----------
    cls : type
        A dataclass. If it derives from :class:`ComponentConfig` and has a
        registry, the concrete class is looked up by ``data["name"]`` (or by
        ``key_name``, the enclosing mapping key, when ``name`` is absent).
    data : mapping
        Plain values as read from YAML; missing keys keep their defaults.
    path : str
        Dotted prefix for error messages.

    Returns
    -------
    object
        Instance of ``cls`` (or of the registered subclass).
    """
    where = path or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {data!r}")
    data = dict(data)
    if issubclass(cls, ComponentConfig) and cls.registry is not None:
        default_name = key_name if key_name is not None else cls().name
        name = data.get("name") or default_name
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}.name: required (one of {', '.join(cls.registry.names())})")
        cls = cls.registry.get(name, path=f"{where}.name").config_cls
        data["name"] = name
    hints = get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if f.init}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
            f"; valid: {', '.join(sorted(known))}"
        )
    kwargs = {k: _parse(hints[k], v, f"{path}.{k}" if path else k) for k, v in data.items()}
    try:
        obj = cls(**kwargs)
    except TypeError as exc:  # a required field without default is missing
        raise ConfigError(f"{where}: {exc}") from None
    check = getattr(obj, "validate", None)
    if callable(check):
        check(where)
    return obj


def to_dict(obj: Any) -> Any:
    """Plain-data (YAML-ready) copy of a config dataclass tree."""
    if is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in fields(obj) if f.init}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


def deep_merge(base: dict, override: dict) -> dict:
    """Merge ``override`` into a copy of ``base``; nested mappings merge key by key.

    A mapping whose ``name`` changes replaces the old one entirely: the options of
    one component make no sense for another.
    """
    merged = dict(base)
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            renamed = "name" in value and old.get("name") not in (None, value["name"])
            merged[key] = dict(value) if renamed else deep_merge(old, value)
        else:
            merged[key] = value
    return merged


def merge_all(layers: list[dict]) -> dict:
    """:func:`deep_merge` a list of mappings, later ones winning."""
    merged: dict = {}
    for layer in layers:
        merged = deep_merge(merged, layer)
    return merged


def parse_override(text: str) -> dict:
    """Turn ``"a.b.c=value"`` into ``{"a": {"b": {"c": value}}}``; value parsed as YAML."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key.path=value")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {text!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({exc.problem})") from None
    if isinstance(value, str):
        # YAML 1.1 reads "5e-4" (no dot) as a string; a CLI user means a number.
        try:
            value = float(value) if value.strip().lower() not in ("nan", "inf", "-inf", "+inf") else value
        except ValueError:
            pass
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    return nested


def replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` re-exported so callers never mutate configs in place."""
    return dataclasses.replace(obj, **changes)


__all__ = [
    "ComponentConfig",
    "from_dict",
    "to_dict",
    "deep_merge",
    "merge_all",
    "parse_override",
    "replace",
]
