"""A lesson placeholder's path followed in an API answer, as the tests recompute it (the concrete keys a resolution
reports: indices, field names, `$all`, `$sum(i,j)`, `$maxcount`, `$maxalike`, `$maxwordcount`, `$maxwordalike`, and
over records `$maxcount(path)`, `$mincount(path)`, `$maxalike(path)`, `$minalike(path)`), independently of
backend/lesson_steps.py resolve_path."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal


def _two(v) -> str:
    """A number with two decimals as the page writes it (toFixed: half up on its binary value)."""
    return str(Decimal(v).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)).replace("-0.00", "0.00")


def follow(value, path: list):
    root = value
    for key in path:
        if key == "$all":  # a list of lists read as one list (every head of every layer)
            value = [x for row in value for x in row]
        elif key in ("$maxcount", "$maxalike"):  # how many numbers of the list are its largest, or read as it with two
            # decimals (half up, as the page writes them)
            numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
            value = numbers.count(max(numbers)) if key == "$maxcount" else \
                sum(1 for v in numbers if _two(v) == _two(max(numbers)))
        elif key in ("$maxwordcount", "$maxwordalike"):  # the same over the keys of words the query sees (no special
            # token, not masked)
            mask = root.get("mask") or [False] * len(value)
            words = [v for v, t, m in zip(value, root["tokens"], mask, strict=True) if not t.get("special") and not m]
            value = words.count(max(words)) if key == "$maxwordcount" else \
                sum(1 for v in words if _two(v) == _two(max(words)))
        elif isinstance(key, str) and (m := re.fullmatch(r"\$(max|min)(count|alike)\((.+)\)", key)):
            # over records: how many have the largest (smallest) `path`, or read as it does with two decimals, half up
            # as the page writes them
            values = [follow(item, m[3].split(".")) for item in value]
            numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            top = (max if m[1] == "max" else min)(numbers)
            if m[2] == "count":
                value = numbers.count(top)
            else:
                value = sum(1 for v in numbers if _two(v) == _two(top))
        elif isinstance(key, str) and key.startswith("$sum("):  # those items added (a word in pieces)
            value = math.fsum(value[int(i)] for i in key[5:-1].split(","))
        else:
            value = value[key]
    return value
