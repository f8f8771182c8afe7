"""The answer of one write: an HTTP status and a JSON body, kept with the op so a retried op_id gets it again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OpResult:
    status: int
    body: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "body": self.body}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OpResult:
        return cls(int(data["status"]), dict(data["body"]))
