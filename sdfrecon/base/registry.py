"""Name registries: configs and files choose components by name, never by if-chains.

One mechanism serves every pluggable family: networks, encodings, loss terms,
samplers, point-cloud readers (named by file extension), input formats and
benchmark methods. A :class:`Registry` maps a name to a builder and, for
configurable components, to the typed config class the builder takes (the config
loader asks the registry which dataclass to parse a ``{name: ..., ...}`` mapping
into, so each component's options are checked against its own fields).

Families register themselves: a module adds its components with the
``@REGISTRY.register(name)`` decorator, and the registry imports every module of
its *provider* packages the first time it is asked for a name. No central import
list exists, so adding a module with a decorated builder is all it takes. Other
installed distributions can add components too, through the entry-point group
``sdfrecon.<kind>`` (e.g. ``sdfrecon.network``), each entry naming a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable, Generic, Iterator, Sequence, TypeVar

from sdfrecon.base.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its builder (or object) and its config dataclass."""

    name: str
    builder: T
    config_cls: type | None = None


class Registry(Generic[T]):
    """A named family of interchangeable components (networks, samplers, readers...).

    Parameters
    ----------
    kind : str
        Human name of the family, used in error messages ("network").
    providers : str or sequence of str
        Packages whose modules register into this family; each of their modules
        is imported on the first lookup.
    """

    def __init__(self, kind: str, providers: str | Sequence[str] = ()):
        self.kind = kind
        self.providers = (providers,) if isinstance(providers, str) else tuple(providers)
        self._entries: dict[str, Entry[T]] = {}
        self._discovered = False

    # ------------------------------------------------------------ registering

    def register(self, *names: str, config_cls: type | None = None) -> Callable[[T], T]:
        """Decorator registering ``builder`` under each of ``names`` (with its config class)."""
        if not names:
            raise TypeError("register() needs at least one name")

        def wrap(builder: T) -> T:
            for name in names:
                self.add(name, builder, config_cls)
            return builder

        return wrap

    def add(self, name: str, builder: T, config_cls: type | None = None) -> None:
        """Register ``builder`` under ``name``; a name registered twice is a bug."""
        if name in self._entries:
            raise RuntimeError(f"{self.kind} {name!r} registered twice")
        self._entries[name] = Entry(name, builder, config_cls)

    def remove(self, name: str) -> Entry[T]:
        """Unregister ``name`` (tests swap components in and out); returns its entry."""
        return self._entries.pop(name)

    # ------------------------------------------------------------ looking up

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._discover()
        return sorted(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        """Registered entries in registration order."""
        self._discover()
        return iter(list(self._entries.values()))

    def get(self, name: str, *, path: str = "name") -> Entry[T]:
        """Entry for ``name``; raises :class:`ConfigError` listing the valid names."""
        self._discover()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise ConfigError(f"{path}: unknown {self.kind} {name!r}; valid: {valid}") from None

    def build(self, cfg: Any, **runtime: Any) -> Any:
        """Build the component described by ``cfg`` (a registered config with ``name``)."""
        builder: Callable[..., Any] = self.get(cfg.name).builder  # type: ignore[assignment]
        return builder(cfg, **runtime)

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    # ------------------------------------------------------------ discovery

    def _discover(self) -> None:
        """Import every module of the provider packages (and entry points) once."""
        if self._discovered:
            return
        self._discovered = True  # first: a provider module may look names up while importing
        for package_name in self.providers:
            package = importlib.import_module(package_name)
            for module in pkgutil.iter_modules(getattr(package, "__path__", [])):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{package_name}.{module.name}")
        for entry_point in metadata.entry_points(group=f"sdfrecon.{self.kind.replace(' ', '_')}"):
            importlib.import_module(entry_point.value.split(":")[0])
