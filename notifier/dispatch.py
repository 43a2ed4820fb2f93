"""The dispatch jobs: claim and commit, call the gateway, record and commit; reconcile every doubt."""

import logging
import threading
from dataclasses import replace
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, or_, select, update

from notifier import outbox
from notifier.db import among, db, insert_on_conflict
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
    GatewaySlot,
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
# SMSC allows one status.php request about several messages a minute per login (§8); a second is error 9.
MASS_STATUS, MASS_STATUS_EVERY = "mass_status", timedelta(seconds=61)
RECONCILE_PAIRS = 1000  # (request, phone) pairs asked about in one reconcile call, at most


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


def take_mass_status_turn(now: datetime) -> bool:
    """Take this minute's one status request about several messages, for every worker at once; commit.

    A conditional UPDATE of one row: of two workers asking at once, the second waits for the first's
    row lock and then finds the turn taken.
    """
    table = GatewaySlot.__table__
    db.session.execute(insert_on_conflict(table).values(name=MASS_STATUS, free_at=now).on_conflict_do_nothing())
    taken = db.session.execute(
        update(table).where(table.c.name == MASS_STATUS, table.c.free_at <= now).values(free_at=now + MASS_STATUS_EVERY)
    ).rowcount
    db.session.commit()
    return taken == 1


def _pause(cause: str, until: datetime, detail: str, now: datetime) -> None:
    """Pause dispatch for a cause; an upsert, since several lanes may hit the same error at once."""
    stmt = insert_on_conflict(DispatchSwitch.__table__).values(
        cause=cause, paused_until=until, detail=detail[:2000], since=now
    )
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
    if not outbox.anything_due(now):  # most runs: no need to add up the day's parts for the budget
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


def apply_status(batch_id: int, status: DeliveryStatus, now: datetime) -> int:
    """Move one message forward from a delivery status; statuses never move back."""
    if status.state == sms.DELIVERED:
        return outbox.move(batch_id, [status.phone], DELIVERED, now, from_statuses=(SENDING, SENT))
    if status.state == sms.UNDELIVERED:
        return outbox.move(batch_id, [status.phone], FAILED, now, status.reason, from_statuses=(SENDING, SENT))
    if status.state != sms.NOT_FOUND:
        return outbox.move(batch_id, [status.phone], SENT, now, from_statuses=(SENDING,))
    return 0


def reconcile(now: datetime) -> int:
    """Ask the gateway, in one status call, what arrived of uncertain requests; resend only what never arrived.

    About several messages that call is SMSC's one "mass" request of the minute: after a crash every
    request left in doubt is asked about at once, not one a minute.
    """
    asking = []
    batches = _claim_batches(B_UNCERTAIN, now, max(1, RECONCILE_PAIRS // current_app.config["SMS_BATCH_SIZE"]))
    for batch, request in zip(batches, outbox.pending_requests(batches), strict=True):
        if request.phones:
            asking.append((batch, request))
        else:
            batch.status = B_SENT
    db.session.commit()
    pairs = [(request.request_id, phone) for _batch, request in asking for phone in request.phones]
    if not pairs:
        return 0
    if len(pairs) > 1 and not take_mass_status_turn(now):
        for batch, _request in asking:  # asked as soon as the turn is free
            batch.next_attempt_at = now + MASS_STATUS_EVERY
        db.session.commit()
        return 0
    try:
        statuses = gateway().statuses(pairs)
    except Exception as exc:  # the gateway is still unsure: asked again when the claim runs out
        current_app.logger.warning("reconcile of %d requests: %s", len(asking), exc)
        return 0
    for batch, request in asking:
        _settle(batch, request, {p: statuses.get((request.request_id, p)) for p in request.phones}, now)
        db.session.commit()
    return len(asking)


def _settle(batch: SmsBatch, request: outbox.Claimed, statuses: dict, now: datetime) -> None:
    """Record what the gateway knows of an uncertain request's messages; resend those that never arrived."""
    missing = [p for p, status in statuses.items() if status is None or status.state == sms.NOT_FOUND]
    for phone, status in statuses.items():
        if phone not in missing:
            apply_status(batch.id, status, now)
    if missing and batch.attempts >= current_app.config["SMS_MAX_ATTEMPTS"]:
        outbox.move(batch.id, missing, FAILED, now, f"gave up after {batch.attempts} attempts: {batch.reason}")
        batch.status = B_SENT
    elif missing:
        ids = dict(zip(request.phones, request.ids, strict=True))
        _send(replace(request, ids=[ids[p] for p in missing], phones=missing), now)
    else:
        batch.status = B_SENT


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


def _doubts_due(by: datetime) -> bool:
    """Whether a request in doubt will be asked about by then: the minute's turn is reconcile's first."""
    due = select(SmsBatch.id).where(SmsBatch.status == B_UNCERTAIN, SmsBatch.next_attempt_at <= by).limit(1)
    return db.session.scalar(due) is not None


def poll_statuses(now: datetime) -> int:
    """Ask the gateway about messages still not final after SMS_STATUS_POLL_MINUTES, in one request.

    Up to SMS_STATUS_POLL_LIMIT messages of any requests go in one status call; about several messages
    it is SMSC's one "mass" request of the minute, shared with the other workers, and left to reconcile
    when a request in doubt is due within the minute (else the two jobs' rhythms could starve reconcile).
    """
    minutes = current_app.config["SMS_STATUS_POLL_MINUTES"]
    due = now - timedelta(minutes=minutes)
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.batch_id, SmsBatch.request_id, OutboxMessage.phone)
        .join(SmsBatch, SmsBatch.id == OutboxMessage.batch_id)
        .where(
            OutboxMessage.status == SENT,
            OutboxMessage.sent_at <= due,
            OutboxMessage.sent_at > now - timedelta(days=2),
            or_(OutboxMessage.checked_at.is_(None), OutboxMessage.checked_at <= due),
        )
        .limit(current_app.config["SMS_STATUS_POLL_LIMIT"])
    ).all()
    wait = len(rows) > 1 and (_doubts_due(now + MASS_STATUS_EVERY) or not take_mass_status_turn(now))
    db.session.commit()
    if not rows or wait:
        return 0
    try:
        statuses = gateway().statuses([(row.request_id, row.phone) for row in rows])
    except Exception as exc:
        current_app.logger.warning("status poll of %d messages: %s", len(rows), exc)
        return 0
    moved = sum(apply_status(row.batch_id, statuses[(row.request_id, row.phone)], now) for row in rows)
    db.session.execute(
        OutboxMessage.__table__.update().where(among(OutboxMessage.id, [row.id for row in rows])).values(checked_at=now)
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
    apply_status(batch.id, DeliveryStatus(phone, status.state, status.final, status.reason, status.code), now)
    return True
