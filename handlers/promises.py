"""The service times a new ticket promises (domain.md §2), told in the customer's own time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import phonenumbers

from bot.core.turn import Turn
from services.contact import phone_time_zone
from services.location import Placement, locate
from services.sla import DueTimes, SlaClass
from services.slots import centre_for, engineer_due


@dataclass(frozen=True, slots=True)
class Promise:
    due: DueTimes
    placement: Placement
    centre: str | None = None  # the service centre that sends the engineer

    def ticket_fields(self) -> dict[str, Any]:
        """What the ticket stores: the deadlines, and how they were reached."""
        return {
            "first_response_due": self.due.first_response,
            "onsite_due": self.due.on_site,
            "fix_due": self.due.fixed,
        }

    def response_only(self) -> Promise:
        """For a ticket that waits for a person: only the first response is promised."""
        return Promise(DueTimes(self.due.first_response, None, None), self.placement, self.centre)

    def details(self) -> dict[str, Any]:
        p = self.placement
        distance = round(p.distance_km, 1) if p.distance_km is not None else None
        return {"sla": {"class": p.sla_class.value, "distance_km": distance, "place": p.place},
                "visit_centre": self.centre}


def promise(turn: Turn, line_id: str | None, place: dict[str, Any] | None = None, phone: str | None = None) -> Promise:
    """The deadlines for a ticket opened now, for this product line and this customer's place."""
    company = turn.company
    phone = phone or turn.customer.phone
    country = phonenumbers.region_code_for_number(phonenumbers.parse(phone)) if phone else None
    point = (place["lat"], place["lon"]) if place and "lat" in place else None
    placement = locate(
        company.area, point=point, address=(place or {}).get("address"), phone_country=country,
        threshold_km=company.sla.distance_threshold_km,
    )
    rule = company.sla.rule_for(line_id or "", placement.sla_class)
    due = company.sla.due_times(turn.now, rule)
    overseas = placement.sla_class is SlaClass.OVERSEAS  # no engineer travels abroad: a person arranges it
    centre = None if overseas else centre_for(company.area, placement.place, point)
    # An engineer comes in the centre's working hours: "by Mon 3:09 AM" is no promise (issue 12).
    roster = company.roster
    hours = roster.centre_hours(centre) if roster and centre in roster.centres else company.sla.business_hours
    holidays = company.sla.holidays | (roster.holidays if roster else frozenset())
    if centre is None:  # no engineer of ours comes (abroad): the rule's own clock
        return Promise(due, placement, centre)
    on_site, fixed = (engineer_due(turn.now, d, hours, holidays) if d else None for d in (rule.on_site, rule.fixed))
    return Promise(DueTimes(due.first_response, on_site, fixed), placement, centre)


async def settle_time_zone(turn: Turn, placement: Placement, phone: str | None) -> None:
    """Learn the customer's time zone from where they are, else from their phone number."""
    if turn.customer.timezone:
        return
    zone = placement.timezone or (phone_time_zone(phone) if phone else None)
    if zone:
        await turn.update_customer(timezone=zone)


def describe(turn: Turn, due: DueTimes) -> str:
    t = turn.t
    lines = []
    if due.first_response:
        lines.append(t._("A person will contact you by %(time)s.", time=t.when(due.first_response)))
    if due.on_site:
        lines.append(t._("An engineer can be with you by %(time)s; we will agree the exact time with you.", time=t.when(due.on_site)))
    if due.fixed:
        lines.append(t._("We commit to fixing the fault by %(time)s.", time=t.when(due.fixed)))
    return "\n".join(lines)
