"""Checks five-field cron expressions the way cron reads them; pure, no I/O.

Settings use it so that an hour of 25 is a settings error naming the key,
not a scheduler traceback when ``graphbot run`` starts.
"""

from __future__ import annotations

import re

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_NAMES = {
    "month": "jan feb mar apr may jun jul aug sep oct nov dec".split(),
    "day of week": "sun mon tue wed thu fri sat".split(),
}
_PART = re.compile(r"^(?P<span>\*|[0-9a-z]+(?:-[0-9a-z]+)?)(?:/(?P<step>[0-9]+))?$")


def check_cron(expression: str) -> None:
    """Raise ValueError saying which field is wrong and what it accepts."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            'expected a cron expression of five fields (minute hour day month '
            'weekday), such as "0 8 * * *"'
        )
    for text, (name, low, high) in zip(fields, _FIELDS):
        if not all(_is_valid_part(part, name, low, high) for part in text.split(",")):
            raise ValueError(
                f"the {name} field accepts {low}-{high}, *, ranges, lists and "
                f'steps (such as "*/15" or "1-5"); fix it'
            )


def _is_valid_part(part: str, name: str, low: int, high: int) -> bool:
    match = _PART.match(part.lower())
    if match is None or match["step"] == "0":
        return False
    if match["span"] == "*":
        return True
    bounds = [_number(value, name) for value in match["span"].split("-")]
    numbers = [n for n in bounds if n is not None and low <= n <= high]
    return len(numbers) == len(bounds) and numbers == sorted(numbers)


def _number(value: str, name: str) -> int | None:
    if value.isdigit():
        return int(value)
    names = _NAMES.get(name, [])
    if value in names:
        return names.index(value) + (1 if name == "month" else 0)
    return None
