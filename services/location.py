"""Where a customer is, for service times: the SLA class and the time zone.

From a shared point (distance to the nearest service centre, the nearest known
place) or from a typed address naming a known place (data/service_centres.yaml).
When neither tells, the phone number's country decides whether the customer is
overseas, and the distance counts as unknown (the longer promise).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.datafile import load_model, problem
from services.sla import SlaClass, classify, haversine_km

_STREET = re.compile(r"\s*(road|rd\b|street|st\b|avenue|ave\b|路|街|大道|улиц|ул\.|проспект|ქუჩ|გამზ)")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Centre(_Frozen):
    id: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    covers: tuple[str, ...] = ()  # ids of the places (counties, regions) this centre serves


class Place(_Frozen):
    id: str
    kind: Literal["city", "county"]
    station: bool = True
    country: str = Field(min_length=2, max_length=2)
    tz: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    names: tuple[str, ...] = Field(min_length=1)


class ServiceArea(_Frozen):
    country: str = Field(min_length=2, max_length=2)
    place_radius_km: float = Field(gt=0)
    centres: tuple[Centre, ...] = Field(min_length=1)
    places: tuple[Place, ...] = ()

    @model_validator(mode="after")
    def _covered_places_exist_once(self) -> ServiceArea:
        known = {p.id for p in self.places}
        served: dict[str, str] = {}
        for i, centre in enumerate(self.centres):
            for place in centre.covers:
                if place not in known:
                    raise problem(f"no place with id {place!r}", ("centres", i, "covers"))
                if place in served:
                    raise problem(f"{place!r} is covered by {served[place]!r} already", ("centres", i, "covers"))
                served[place] = centre.id
        return self

    def nearest_centre_km(self, lat: float, lon: float) -> float:
        return min(haversine_km(lat, lon, c.lat, c.lon) for c in self.centres)

    def serving_centre_km(self, place: Place) -> float:
        """Distance to the centre that covers the place; to the nearest one if none does."""
        centre = next((c for c in self.centres if place.id in c.covers), None)
        if centre is None:
            return self.nearest_centre_km(place.lat, place.lon)
        return haversine_km(place.lat, place.lon, centre.lat, centre.lon)

    def place_near(self, lat: float, lon: float) -> Place | None:
        """The nearest known place, if the point is within `place_radius_km` of it."""
        if not self.places:
            return None
        place = min(self.places, key=lambda p: haversine_km(lat, lon, p.lat, p.lon))
        return place if haversine_km(lat, lon, place.lat, place.lon) <= self.place_radius_km else None

    def place_named_in(self, text: str) -> Place | None:
        """The first place the text names, not counting streets named after a place
        ("Beijing Road", 北京路: every Chinese city has one)."""
        folded = text.casefold()
        found: list[tuple[int, Place]] = []
        for place in self.places:
            for name in place.names:
                for match in re.finditer(re.escape(name.casefold()), folded):
                    if not _STREET.match(folded, match.end()):
                        found.append((match.start(), place))
        return min(found, key=lambda hit: hit[0])[1] if found else None


def load_area(path: str | Path) -> ServiceArea:
    return load_model(path, ServiceArea)


@dataclass(frozen=True, slots=True)
class Placement:
    sla_class: SlaClass
    distance_km: float | None  # to the nearest service centre; None when unknown
    place: str | None  # the known place the customer is in or near
    timezone: str | None


def locate(
    area: ServiceArea, *, point: tuple[float, float] | None = None, address: str | None = None,
    phone_country: str | None = None, threshold_km: float = 300.0,
) -> Placement:
    place = None
    distance = None
    if point is not None:
        place = area.place_near(*point)
        distance = area.nearest_centre_km(*point)
    elif address:
        place = area.place_named_in(address)
        if place is not None:
            distance = area.serving_centre_km(place)
    country = place.country if place else phone_country
    sla_class = classify(
        distance,
        county_has_station=place.station if place else True,
        overseas=country is not None and country != area.country,
        in_city=place is not None and place.kind == "city" and place.station,
        threshold_km=threshold_km,
    )
    return Placement(sla_class, distance, place.id if place else None, place.tz if place else None)
