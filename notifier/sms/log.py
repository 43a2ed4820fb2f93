"""The embedded default: nothing leaves the machine; the outbox rows are the record staff see."""

from decimal import Decimal

from notifier import segments
from notifier.sms.base import ACCEPTED, DELIVERED, DeliveryStatus, PhoneResult, SendResult


class LogGateway:
    """Accept every message at once and report it delivered."""

    name = "log"

    def send(self, request_id: str, phones: list[str], text: str) -> SendResult:
        """Accept the request: the message stays in our database only."""
        return SendResult(
            outcome=ACCEPTED,
            parts=segments.count(text).parts,
            cost=Decimal(0),
            phones={p: PhoneResult(p, True) for p in phones},
        )

    def statuses(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], DeliveryStatus]:
        """Every logged message counts as delivered."""
        return {(r, p): DeliveryStatus(p, DELIVERED, True) for r, p in pairs}

    def balance(self) -> Decimal | None:
        """The log gateway has no account."""
        return None
