"""Where a customer is, for service times (pure rules over data/service_centres.yaml)."""

from __future__ import annotations

import pytest

from bot.config import Settings
from services.location import load_area, locate

AREA = load_area(Settings().data_dir / "service_centres.yaml")


@pytest.mark.parametrize(
    ("where", "sla_class", "place", "zone"),
    [
        ({"point": (31.2304, 121.4737)}, "city", "shanghai", "Asia/Shanghai"),
        ({"point": (31.30, 120.58)}, "within_300km", "suzhou", "Asia/Shanghai"),
        ({"point": (36.07, 120.38)}, "beyond_300km", None, None),
        ({"address": "喀什市人民路1号"}, "county_no_station", "kashgar", "Asia/Urumqi"),
        ({"address": "Lhasa, Beijing Road 1"}, "county_no_station", "lhasa", "Asia/Shanghai"),
        ({"address": "北京路88号, 广州"}, "city", "guangzhou", "Asia/Shanghai"),
        ({"address": "Тбилиси, проспект Руставели 12"}, "overseas", "tbilisi", "Asia/Tbilisi"),
        ({"point": (55.7558, 37.6173)}, "overseas", "moscow", "Europe/Moscow"),
        ({"address": "an unknown village", "phone_country": "GE"}, "overseas", None, None),
        ({"address": "an unknown village", "phone_country": "CN"}, "beyond_300km", None, None),
    ],
)
def test_locate(where: dict, sla_class: str, place: str | None, zone: str | None) -> None:
    found = locate(AREA, **where)
    assert (found.sla_class, found.place, found.timezone) == (sla_class, place, zone)


def test_distance_is_to_the_nearest_centre() -> None:
    assert locate(AREA, point=(31.30, 120.58)).distance_km == pytest.approx(84, abs=3)  # Suzhou - Shanghai


def test_bad_file_names_the_field(tmp_path) -> None:
    bad = tmp_path / "centres.yaml"
    bad.write_text("country: CN\nplace_radius_km: 40\ncentres:\n  - {id: x, lat: 95, lon: 0}\n")
    with pytest.raises(ValueError, match=r"centres.*lat"):
        load_area(bad)


def area_file(tmp_path, covers_a: str, covers_b: str):
    path = tmp_path / "centres.yaml"
    path.write_text(
        "country: CN\nplace_radius_km: 40\ncentres:\n"
        f"  - {{id: a, lat: 31.23, lon: 121.47, covers: {covers_a}}}\n"  # Shanghai
        f"  - {{id: b, lat: 39.90, lon: 116.41, covers: {covers_b}}}\n"  # Beijing, ~1,070 km from Suzhou
        "places:\n"
        "  - {id: suzhou, kind: county, country: CN, tz: Asia/Shanghai, lat: 31.30, lon: 120.58, names: [Suzhou]}\n"
    )
    return path


def test_a_county_is_measured_to_the_centre_that_covers_it(tmp_path) -> None:
    nearest = load_area(area_file(tmp_path, "[suzhou]", "[]"))
    assert locate(nearest, address="Suzhou").sla_class == "within_300km"
    far = load_area(area_file(tmp_path, "[]", "[suzhou]"))  # served from Beijing, though Shanghai is nearer
    found = locate(far, address="Suzhou")
    assert found.sla_class == "beyond_300km" and found.distance_km == pytest.approx(1030, abs=40)


@pytest.mark.parametrize(("a", "b", "message"), [
    ("[nowhere]", "[]", r"centres\[0\].covers: no place with id 'nowhere'"),
    ("[suzhou]", "[suzhou]", r"centres\[1\].covers: 'suzhou' is covered by 'a' already"),
])
def test_coverage_must_name_known_places_once(tmp_path, a: str, b: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_area(area_file(tmp_path, a, b))


def test_every_shipped_place_of_ours_has_a_serving_centre() -> None:
    served = [place for centre in AREA.centres for place in centre.covers]
    ours = [place.id for place in AREA.places if place.country == AREA.country]
    assert sorted(served) == sorted(ours)
