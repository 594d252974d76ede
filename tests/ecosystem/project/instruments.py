"""What keeps the tools' output in memory, for the scenario to read back."""

from __future__ import annotations

from typing import Any

from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

#: Every event sentry_sdk sent in this process (transactions and errors).
SENTRY_EVENTS: list[dict[str, Any]] = []


class MemoryTransport(Transport):
    """A sentry_sdk transport that sends nothing and keeps each event."""

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type in ("transaction", "event"):
                event = item.get_event() or item.get_transaction_event()
                if event is not None:
                    SENTRY_EVENTS.append(event)
