"""Who a registered unit may be linked to (issue 9): proof, not a claim.

A unit is linked to a customer file only on proof: the phone the dealer recorded
for the buyer equals a phone the customer *proved* is theirs (on Telegram: their
own contact card). Anything less -- a typed number, a unit sold without a phone,
a unit already linked to someone else -- is recorded as a claim for a person to
confirm, and never moves a unit or shows its owner's data.
"""

from __future__ import annotations

from enum import StrEnum

# Typed numbers that do not match the record: after this many the claim goes to a person.
MAX_PHONE_TRIES = 3


class ClaimStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REFUSED = "refused"


class PhoneCheck(StrEnum):
    PROVEN = "proven"  # the customer's own number, and it is the record's: link
    CLAIMED = "claimed"  # matches the record but is not proven: a person confirms
    MISMATCH = "mismatch"  # not the record's number: let them try again


def check_phone(recorded: str | None, given: str, proven: bool) -> PhoneCheck:
    """How a phone given for a unit whose sales record names `recorded` counts."""
    if recorded is None or given != recorded:
        return PhoneCheck.MISMATCH
    return PhoneCheck.PROVEN if proven else PhoneCheck.CLAIMED


def tries_left(mismatches: int) -> bool:
    """True while a customer who mistyped the number may try again."""
    return mismatches < MAX_PHONE_TRIES
