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
