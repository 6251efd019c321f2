"""Name registries: configs choose components by ``name:``, never by if-chains.

A :class:`Registry` maps a name to a builder and to the typed config class that
the builder takes. The config loader asks the registry which dataclass to parse
a ``{name: ..., ...}`` mapping into, so each component's options are checked
against its own fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

from sdf.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its builder and its config dataclass."""

    name: str
    builder: Callable[..., T]
    config_cls: type


class Registry(Generic[T]):
    """A named family of interchangeable components (networks, samplers, ...).

    Parameters
    ----------
    kind : str
        Human name of the family, used in error messages ("network").
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, config_cls: type) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``builder`` under ``name`` with its config class."""

        def wrap(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise RuntimeError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = Entry(name, builder, config_cls)
            return builder

        return wrap

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def get(self, name: str, *, path: str = "name") -> Entry[T]:
        """Entry for ``name``; raises :class:`ConfigError` listing valid names."""
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise ConfigError(f"{path}: unknown {self.kind} {name!r}; valid: {valid}") from None

    def build(self, cfg: Any, **runtime: Any) -> T:
        """Build the component described by ``cfg`` (a registered config with ``name``)."""
        return self.get(cfg.name).builder(cfg, **runtime)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
