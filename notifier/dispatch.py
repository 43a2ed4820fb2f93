"""The dispatch jobs: claim and commit, call the gateway, record and commit; reconcile every doubt."""

import logging
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from notifier import outbox
from notifier.db import db
from notifier.lanes import lane_count, run_lanes
from notifier.outbox_models import (
    B_FAILED,
    B_HALTED,
    B_SENDING,
    B_SENT,
    B_UNCERTAIN,
    DELIVERED,
    FAILED,
    QUEUED,
    SENDING,
    SENT,
    DispatchSwitch,
    OutboxMessage,
    SmsBatch,
)
from notifier.sms import base as sms
from notifier.sms import gateway_for
from notifier.sms.base import ACCEPTED, HALT, UNCERTAIN, DeliveryStatus, SendResult
from notifier.timeutil import local_zone

log = logging.getLogger("habarlama.dispatch")

# Set by the worker on SIGTERM: finish the request in flight, hand the rest back to the queue.
STOP = threading.Event()

HALT_BACKOFF = {"auth": 30, "no_money": 15, "ip_blocked": 10}  # minutes
BUDGET = "budget"


def gateway():
    """Return the configured gateway, built once per app and configuration."""
    key = (current_app.config["SMS_GATEWAY"], current_app.config.get("SMSC_BASE_URL"))
    cached = current_app.extensions.get("habarlama.gateway")
    if cached is None or cached[0] != key:
        cached = (key, gateway_for(current_app))
        current_app.extensions["habarlama.gateway"] = cached
    return cached[1]


def active_switches(now: datetime) -> list[DispatchSwitch]:
    """Return the causes that pause dispatch now (shown to staff)."""
    return list(db.session.scalars(select(DispatchSwitch).where(DispatchSwitch.paused_until > now)))


def _pause(cause: str, until: datetime, detail: str, now: datetime) -> None:
    """Pause dispatch for a cause; an upsert, since several lanes may hit the same error at once."""
    module = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    table = DispatchSwitch.__table__
    stmt = module.insert(table).values(cause=cause, paused_until=until, detail=detail[:2000], since=now)
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["cause"], set_={"paused_until": stmt.excluded.paused_until, "detail": stmt.excluded.detail}
        )
    )


def resume(cause: str | None = None) -> None:
    """Lift a pause (after a top-up or a fixed password); the caller commits."""
    query = delete(DispatchSwitch)
    if cause:
        query = query.where(DispatchSwitch.cause == cause)
    db.session.execute(query)


def _budget_exhausted(now: datetime) -> bool:
    budget = current_app.config["SMS_DAILY_BUDGET"]
    if not budget or outbox.parts_sent_today(now) < budget:
        return False
    midnight = (now.astimezone(local_zone()) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    _pause(BUDGET, midnight, f"daily budget of {budget} SMS parts reached; only urgent messages go out", now)
    db.session.commit()
    return True


def record(request: outbox.Claimed, result: SendResult, now: datetime) -> None:
    """Apply a gateway answer to a request and its messages (the caller commits)."""
    attempts = request.attempts + 1
    common = {"attempts": attempts, "reason": result.reason, "detail": result.detail}
    if result.outcome == ACCEPTED:
        outbox.update_batch(
            request.batch_id, status=B_SENT, sent_at=now, parts=result.parts, cost=result.cost, **common
        )
        for phone, answer in result.phones.items():
            if not answer.accepted:
                outbox.move(request.batch_id, [phone], FAILED, now, answer.reason or "refused")
        outbox.move(request.batch_id, None, SENT, now, ids=request.ids)
    elif result.outcome == HALT:
        outbox.update_batch(request.batch_id, status=B_HALTED, **common)
        outbox.move(request.batch_id, None, QUEUED, now, ids=request.ids)
        minutes = HALT_BACKOFF.get(result.reason, 10)
        _pause(result.reason or "halt", now + timedelta(minutes=minutes), result.detail or result.reason, now)
    elif result.outcome == UNCERTAIN:
        # Never resend blindly: the reconcile job asks the gateway what arrived first.
        delay = max(60, result.retry_after or 0) * 2 ** min(attempts - 1, 6)
        outbox.update_batch(
            request.batch_id, status=B_UNCERTAIN, next_attempt_at=now + timedelta(seconds=delay), **common
        )
    else:
        outbox.update_batch(request.batch_id, status=B_FAILED, **common)
        outbox.move(request.batch_id, None, FAILED, now, result.reason, ids=request.ids)


def _release(requests: list[outbox.Claimed], now: datetime) -> None:
    """Hand claimed requests that were never sent back to the queue."""
    for request in requests:
        outbox.update_batch(request.batch_id, status=B_HALTED)
        outbox.move(request.batch_id, None, QUEUED, now, ids=request.ids)
    db.session.commit()


def _call(gate, request: outbox.Claimed) -> SendResult:
    """Send one request; an exception of the client becomes an outcome, so the request is never left hanging."""
    try:
        return gate.send(request.request_id, request.phones, request.text)
    except ValueError as exc:  # refused by the client before anything left: nothing was sent
        return SendResult(sms.FAILED, "bad_request", str(exc))
    except Exception as exc:  # we cannot tell whether it left: reconcile, as after a timeout
        log.exception("request %s: the gateway client failed", request.request_id)
        return SendResult(UNCERTAIN, "client_error", f"{type(exc).__name__}: {exc}")


def _send(request: outbox.Claimed, now: datetime) -> SendResult:
    """Send one request and record the answer."""
    db.session.commit()  # no transaction stays open across the network call
    result = _call(gateway(), request)
    record(request, result, now)
    db.session.commit()
    return result


def lanes() -> int:
    """How many requests one worker keeps on the wire (SMS_SEND_CONCURRENCY; one on SQLite)."""
    return lane_count("SMS_SEND_CONCURRENCY")


def _lane(_index: int, _count: int, now: datetime, urgent_only: bool, halted: threading.Event) -> int:
    """Claim, send and record, one request at a time, until the queue is empty, a halt or a stop.

    Lanes never share a message (SKIP LOCKED): one lane's database writes overlap another's network
    wait. Return how many requests went to the gateway.
    """
    limit = current_app.config["SMS_CLAIM_LIMIT"]
    render = current_app.extensions["habarlama.render"]
    run = outbox.ClaimRun()  # each announcement text is rendered once per lane and run
    sent = 0
    while not (STOP.is_set() or halted.is_set()):
        claimed = outbox.claim(now, limit, urgent_only, render, gateway().name, run)
        if not claimed:
            break
        for index, request in enumerate(claimed):
            if STOP.is_set() or halted.is_set():  # finish the request in flight, hand back the rest
                _release(claimed[index:], now)
                return sent
            result = _send(request, now)
            sent += 1
            if result.outcome == HALT:
                halted.set()
                _release(claimed[index + 1 :], now)
                return sent
    return sent


def dispatch(now: datetime) -> int:
    """Send due messages; return how many requests went to the gateway."""
    if any(s.cause != BUDGET for s in active_switches(now)):
        return 0
    urgent_only = _budget_exhausted(now)
    return sum(run_lanes(lanes(), _lane, now, urgent_only, threading.Event()))


def _claim_batches(status: str, now: datetime, limit: int) -> list[SmsBatch]:
    batches = db.session.scalars(
        select(SmsBatch)
        .where(SmsBatch.status == status, SmsBatch.next_attempt_at <= now)
        .order_by(SmsBatch.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    for batch in batches:  # claimed: other workers skip it until we are done
        batch.next_attempt_at = now + timedelta(minutes=10)
    db.session.commit()
    return batches


def apply_status(batch: SmsBatch, status: DeliveryStatus, now: datetime) -> int:
    """Move one message forward from a delivery status; statuses never move back."""
    if status.state == sms.DELIVERED:
        return outbox.move(batch.id, [status.phone], DELIVERED, now, from_statuses=(SENDING, SENT))
    if status.state == sms.UNDELIVERED:
        return outbox.move(batch.id, [status.phone], FAILED, now, status.reason, from_statuses=(SENDING, SENT))
    if status.state != sms.NOT_FOUND:
        return outbox.move(batch.id, [status.phone], SENT, now, from_statuses=(SENDING,))
    return 0


def reconcile(now: datetime) -> int:
    """Ask the gateway what arrived for uncertain requests; resend only what never arrived."""
    done = 0
    max_attempts = current_app.config["SMS_MAX_ATTEMPTS"]
    for batch in _claim_batches(B_UNCERTAIN, now, 20):
        request = outbox.pending_request(batch)
        phones = request.phones
        if not phones:
            batch.status = B_SENT
            db.session.commit()
            continue
        try:
            statuses = gateway().status(batch.request_id, phones)
        except Exception as exc:  # the gateway is still unsure; try again later
            current_app.logger.warning("reconcile %s: %s", batch.request_id, exc)
            continue
        missing = [p for p in phones if statuses.get(p) is None or statuses[p].state == sms.NOT_FOUND]
        for phone in phones:
            if phone not in missing:
                apply_status(batch, statuses[phone], now)
        if missing and batch.attempts >= max_attempts:
            outbox.move(batch.id, missing, FAILED, now, f"gave up after {batch.attempts} attempts: {batch.reason}")
            batch.status = B_SENT
        elif missing:
            ids = dict(zip(request.phones, request.ids, strict=True))
            _send(replace(request, ids=[ids[p] for p in missing], phones=missing), now)
        else:
            batch.status = B_SENT
        db.session.commit()
        done += 1
    return done


def sweep_stuck(now: datetime) -> int:
    """Treat requests left 'sending' by a dead worker as uncertain, so they are reconciled, not resent blindly."""
    stale = now - timedelta(minutes=current_app.config["SMS_STUCK_MINUTES"])
    batches = db.session.scalars(
        select(SmsBatch)
        .where(SmsBatch.status == B_SENDING, SmsBatch.created_at < stale)
        .with_for_update(skip_locked=True)
    ).all()
    for batch in batches:
        batch.status, batch.next_attempt_at, batch.reason = B_UNCERTAIN, now, batch.reason or "worker_lost"
    return len(batches)


def poll_statuses(now: datetime) -> int:
    """Ask the gateway about messages still not final after SMS_STATUS_POLL_MINUTES."""
    minutes = current_app.config["SMS_STATUS_POLL_MINUTES"]
    due = now - timedelta(minutes=minutes)
    rows = db.session.execute(
        select(OutboxMessage.batch_id, OutboxMessage.phone)
        .where(
            OutboxMessage.status == SENT,
            OutboxMessage.sent_at <= due,
            OutboxMessage.sent_at > now - timedelta(days=2),
            or_(OutboxMessage.checked_at.is_(None), OutboxMessage.checked_at <= due),
        )
        .limit(current_app.config["SMS_STATUS_POLL_LIMIT"])
    ).all()
    by_batch: dict[int, list[str]] = {}
    for batch_id, phone in rows:
        by_batch.setdefault(batch_id, []).append(phone)
    moved = 0
    for batch_id, phones in by_batch.items():
        batch = db.session.get(SmsBatch, batch_id)
        db.session.commit()
        try:
            statuses = gateway().status(batch.request_id, phones)
        except Exception as exc:
            current_app.logger.warning("status poll %s: %s", batch.request_id, exc)
            break
        for status in statuses.values():
            moved += apply_status(batch, status, now)
        db.session.execute(
            OutboxMessage.__table__.update()
            .where(OutboxMessage.batch_id == batch_id, OutboxMessage.phone.in_(phones))
            .values(checked_at=now)
        )
        db.session.commit()
    return moved


def apply_callback(request_id: str, status: DeliveryStatus, now: datetime) -> bool:
    """Apply a delivery status pushed by the gateway; return whether the message was known."""
    batch = db.session.scalar(select(SmsBatch).where(SmsBatch.request_id == request_id))
    if batch is None:
        return False
    digits = "".join(ch for ch in status.phone if ch.isdigit())
    phone = db.session.scalar(
        select(OutboxMessage.phone).where(OutboxMessage.batch_id == batch.id, OutboxMessage.phone == "+" + digits)
    )
    if phone is None:
        return False
    apply_status(batch, DeliveryStatus(phone, status.state, status.final, status.reason, status.code), now)
    return True
