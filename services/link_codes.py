"""One-time codes that join a customer's channels (issue 18): the rules as plain functions.

A code is 8 characters from an alphabet without look-alikes (no 0/O, 1/I/L), shown as
"ABCD-2345": 30**8 (6.6e11) codes. It lives 10 minutes and a channel identity may type
5 wrong codes per 10 minutes, so even 100,000 identities guessing at full speed have a
chance below 1e-6 of hitting a live code before it expires.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ2345679"
LENGTH = 8
LIFETIME = timedelta(minutes=10)
MAX_WRONG = 5  # wrong codes an identity may type ...
WRONG_WINDOW = timedelta(minutes=10)  # ... within this time
_WORD = re.compile(r"[A-Za-z0-9]+")


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def shown(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def typed_code(text: str) -> str | None:
    """The code in what the customer typed ("abcd-2345", "ABCD 2345", "link ABCD2345"); None if none."""
    words = [w.upper() for w in _WORD.findall(text)]
    candidates = [w for w in words if len(w) == LENGTH]
    candidates += [a + b for a, b in zip(words, words[1:]) if len(a) == len(b) == LENGTH // 2]
    return next((c for c in candidates if all(ch in ALPHABET for ch in c)), None)


def code_hash(code: str) -> str:
    """What the store keeps: the code's SHA-256 (a stolen table does not give live codes)."""
    return hashlib.sha256(code.encode()).hexdigest()
