"""Phone numbers: validation, normalisation to E.164, finding one in free text."""

from __future__ import annotations

import phonenumbers
from phonenumbers import timezone as phone_timezone

# Where a customer writing in this language most likely dials from.
LOCALE_REGION = {"ka": "GE", "ru": "RU", "zh_Hans": "CN", "zh_Hant": "TW"}


def region_for_locale(locale: str, default: str) -> str:
    return LOCALE_REGION.get(locale, default)


def normalize_phone(text: str, region: str) -> str:
    """E.164 form of a valid number; ValueError if it is not a real, valid number."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(str(error)) from error
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def find_phone(text: str, region: str) -> str | None:
    """The first valid phone number written in `text`, in E.164 form."""
    for match in phonenumbers.PhoneNumberMatcher(text, region):
        if phonenumbers.is_valid_number(match.number):
            return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    return None


def phone_time_zone(e164: str) -> str | None:
    """The number's time zone when its country or area has exactly one."""
    zones = phone_timezone.time_zones_for_number(phonenumbers.parse(e164))
    return zones[0] if len(zones) == 1 and zones[0] != "Etc/Unknown" else None


def example_number(region: str) -> str:
    """A sample mobile number of `region`, as people write it with the country code."""
    number = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL) if number else "+1 201 555 0123"
