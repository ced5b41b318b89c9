"""Read the lab API's audit log: which requests reached the server, to count them and prove that none did."""

import json
from dataclasses import dataclass
from pathlib import Path

WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclass
class AuditLog:
    path: Path

    def mark(self) -> int:
        """A position in the log; events() returns what was logged after it."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def events(self, since: int = 0, user: str | None = None) -> list[dict]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(since)
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        events = [json.loads(line) for line in lines if line.strip()]
        if user:
            events = [e for e in events if e.get("user", {}).get("username") == user]
        return events

    def writes(self, since: int = 0, user: str | None = None) -> list[dict]:
        """Write requests that were not dry runs (a dry run changes nothing, so it does not count as a write)."""
        return [e for e in self.events(since, user) if e["verb"] in WRITE_VERBS and "dryRun=All" not in e.get("requestURI", "")]
