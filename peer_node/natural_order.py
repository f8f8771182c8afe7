"""People's order for names: team-2 before team-10, any case (the pages' lists and the notices' names)."""

from __future__ import annotations

import re


def natural_key(text: str) -> list[str | int]:
    """Sort key: numbers compare as numbers, the rest without regard to case."""
    return [int(part) if i % 2 else part.casefold() for i, part in enumerate(re.split(r"(\d+)", text))]
