"""What an assessment returns: :class:`Assessment` (what one prediction means for one party),
its :class:`AreaHit` entries and :class:`Lazy`, the parts only a message reads.

Part of :mod:`accord.warning.alerts.rules`: built by :func:`.region.assess_region` (and, before
burnout, narrowed by :func:`.boost.assess_boost`); read by the alert engine and the wording.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from accord.warning.alerts.geography import AdminArea, NamedRegion
from accord.warning.alerts.rules.geometry import Ellipse


T = TypeVar("T")


class Lazy(Generic[T]):
    """A value computed by ``fn`` (pure) on first use, then kept: the parts of an
    :class:`Assessment` that only a message reads (its CAP polygons, the wording's places),
    which most assessments — of predictions that send nothing — never need. Equal (and hashed)
    as its value."""

    __slots__ = ("_fn", "_value")

    def __init__(self, fn: Callable[[], T]) -> None:
        self._fn: Callable[[], T] | None = fn
        self._value: Any = None

    @classmethod
    def of(cls, value: T) -> "Lazy[T]":
        out: Lazy[T] = cls(lambda: value)
        out.get()
        return out

    def get(self) -> T:
        if self._fn is not None:
            self._value, self._fn = self._fn(), None
        return self._value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lazy) and self.get() == other.get()

    def __hash__(self) -> int:
        return hash(self.get())

    def __repr__(self) -> str:
        return f"Lazy({self.get()!r})"


@dataclass(frozen=True)
class AreaHit:
    area: AdminArea
    distance_m: float  # from the ellipse (or ground track) to the area's land
    via: str           # "land" | "waters" | "overflight"


@dataclass(frozen=True)
class Assessment:
    """What one prediction means for one party."""

    party: str
    ellipse: Ellipse
    ring_lazy: Lazy[tuple[tuple[float, float], ...]]  # ring_latlon
    impact_hits: tuple[AreaHit, ...]              # areas the ellipse touches within the margin
    overflight_hits: tuple[AreaHit, ...]          # areas the ground track overflies within the margin
    distance_to_territory_m: float                # ellipse to land + territorial sea (0 if touching)
    land_lazy: Lazy[bool]                         # impact_on_land
    corridor_lazy: Lazy[tuple[tuple[float, float], ...]] = field(default_factory=lambda: Lazy.of(()))
    region_lazy: Lazy[NamedRegion | None] = field(default_factory=lambda: Lazy.of(None))
    nearest_lazy: Lazy[tuple[AdminArea, float, float] | None] = field(default_factory=lambda: Lazy.of(None))
    lost: bool = False
    area_codes: tuple[str, ...] = field(default=())
    track_distance_m: float = math.inf            # ground track to the nearest area's land (if
                                                  # within margin + hysteresis; else inf)
    impact_chances: tuple[tuple[str, float], ...] = ()  # area code → chance the impact threatens
                                                  # it (:func:`.chances.impact_chances`), highest first

    # What only a message reads (CAP polygons, wording) is computed on first use (:class:`Lazy`):
    @property
    def ring_latlon(self) -> tuple[tuple[float, float], ...]:
        """Closed ring of the ellipse (before burnout: of the path at risk), (lat, lon)."""
        return self.ring_lazy.get()

    @property
    def corridor_latlon(self) -> tuple[tuple[float, float], ...]:
        """Overflight corridor ring, (lat, lon); () when the track overflies nothing."""
        return self.corridor_lazy.get()

    @property
    def impact_region(self) -> NamedRegion | None:
        return self.region_lazy.get()

    @property
    def impact_on_land(self) -> bool:
        """The ellipse touches an area's land (wording)."""
        return self.land_lazy.get()

    @property
    def nearest(self) -> tuple[AdminArea, float, float] | None:
        """The area nearest the ellipse, the distance (m) and bearing (° from it)."""
        return self.nearest_lazy.get()

    @property
    def impact_threat(self) -> bool:
        return bool(self.impact_hits)

    @property
    def overflight(self) -> bool:
        return bool(self.overflight_hits)

    @property
    def qualifies(self) -> bool:
        return self.impact_threat or self.overflight

    def areas(self) -> list[AdminArea]:
        seen: dict[str, AdminArea] = {}
        for h in self.impact_hits + self.overflight_hits:
            seen.setdefault(h.area.code, h.area)
        return list(seen.values())

