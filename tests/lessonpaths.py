"""A lesson placeholder's path followed in an API answer, as the tests recompute it (the concrete keys a resolution
reports: indices, field names, `$all`, `$sum(i,j)`, `$maxcount` and `$maxwordcount`), independently of
backend/lesson_steps.py resolve_path."""

from __future__ import annotations

import math


def follow(value, path: list):
    root = value
    for key in path:
        if key == "$all":  # a list of lists read as one list (every head of every layer)
            value = [x for row in value for x in row]
        elif key == "$maxcount":  # how many numbers of the list are its largest
            numbers = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
            value = numbers.count(max(numbers))
        elif key == "$maxwordcount":  # the same over the keys of words the query sees (no special token, not masked)
            mask = root.get("mask") or [False] * len(value)
            words = [v for v, t, m in zip(value, root["tokens"], mask, strict=True) if not t.get("special") and not m]
            value = words.count(max(words))
        elif isinstance(key, str) and key.startswith("$sum("):  # those items added (a word in pieces)
            value = math.fsum(value[int(i)] for i in key[5:-1].split(","))
        else:
            value = value[key]
    return value
