"""What a gateway answers, in our words; provider codes stay inside each adapter."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

# Outcomes of one send request (one text to up to N phones).
ACCEPTED = "accepted"  # the gateway took the request; per-phone failures are in `phones`
FAILED = "failed"  # permanent for this request (bad parameters, forbidden text, invalid numbers…): never retry
HALT = "halt"  # the account cannot send (auth, no money, IP blocked): stop all dispatch, tell staff
UNCERTAIN = "uncertain"  # timeout, 5xx, empty body, duplicate/too frequent: reconcile before any resend

# Delivery states of one (request, phone).
PENDING = "pending"  # accepted, not final yet
DELIVERED = "delivered"
UNDELIVERED = "undelivered"  # final failure
NOT_FOUND = "not_found"  # the gateway has no such message (never arrived, or not yet visible)


@dataclass
class PhoneResult:
    """The gateway's word on one phone of a send request."""

    phone: str
    accepted: bool
    reason: str = ""


@dataclass
class SendResult:
    """The answer to one send request."""

    outcome: str
    reason: str = ""  # our short code: "invalid_number", "no_money", "timeout", …
    detail: str = ""  # the provider's own text, for staff; never contains secrets
    parts: int | None = None  # parts billed per message, as the gateway counted
    cost: Decimal | None = None
    phones: dict[str, PhoneResult] = field(default_factory=dict)
    retry_after: int | None = None  # seconds the gateway asks us to wait, when known


@dataclass
class DeliveryStatus:
    """The delivery state of one (request id, phone)."""

    phone: str
    state: str
    final: bool
    reason: str = ""
    code: int | None = None


@dataclass(frozen=True)
class InboundSms:
    """An SMS a subscriber sent to one of our numbers."""

    id: int  # the gateway's inbound id: unique and increasing
    phone: str  # the subscriber
    text: str
    to_phone: str  # our number it was sent to
    sent_at: datetime | None  # when the subscriber sent it (UTC), when known
    received_at: datetime | None  # when the gateway received it (UTC), when known


class Gateway(Protocol):
    """Sends one text to several phones under our own unique request id."""

    name: str

    def send(self, request_id: str, phones: list[str], text: str) -> SendResult:
        """Send `text` to `phones`; `request_id` is stored before the call and reused on resend."""

    def statuses(self, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], DeliveryStatus]:
        """Return the delivery state of each (request id, phone), in one call."""

    def balance(self) -> Decimal | None:
        """Return the account balance, when the gateway has one."""
