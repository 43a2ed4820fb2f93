"""SMS gateways: the interface the outbox speaks, `log` (embedded default) and `smsc`."""

from flask import Flask

from notifier.sms.base import DeliveryStatus, Gateway, PhoneResult, SendResult


def gateway_for(app: Flask) -> Gateway:
    """Return the gateway named by SMS_GATEWAY."""
    name = app.config["SMS_GATEWAY"]
    if name == "log":
        from notifier.sms.log import LogGateway

        return LogGateway()
    if name == "smsc":
        from notifier.sms.smsc import SmscGateway

        return SmscGateway.from_config(app.config)
    raise RuntimeError(f"Unknown SMS_GATEWAY {name!r}; use log or smsc")


__all__ = ["DeliveryStatus", "Gateway", "PhoneResult", "SendResult", "gateway_for"]
