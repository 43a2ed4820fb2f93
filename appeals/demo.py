"""A few months of demo history: subscribers, announcements with their SMS, and appeals.

Deterministic (a fixed seed, times relative to `now`) and written with set-based INSERTs. Loaded
once: the demo SMS batches' request ids start with `demo-`, and finding one means it is there.
Appeals follow the contact centre's first-year proportions (PRODUCT.md) scaled to a quarter.
"""

import math
import os
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, time, timedelta

from flask import current_app
from sqlalchemy import bindparam, insert, select, update

from announcements.models import Announcement, AnnouncementEvent, announcement_districts
from announcements.texts import event_sms
from appeals import deadlines
from appeals.models import Appeal, AppealEvent, AppealMessage
from notifier import segments
from notifier.auth import user_by_email
from notifier.db import db
from notifier.directory import all_departments, all_districts
from notifier.outbox_models import DELIVERED, FAILED, SENT, OutboxMessage, SmsBatch
from notifier.timeutil import local_zone, to_local
from subscribers.models import ACTIVE, STOPPED, Subscriber, subscriber_departments, subscriber_districts

SEED, DAYS, SUBSCRIBERS, CURRENT, UPCOMING = 20261128, 180, 500, 4, 3
BATCH_PREFIX, DOMAIN = "demo-", "demo.habarlama.kz"
PREFIXES = ("700", "701", "702", "705", "707", "747", "771", "775", "777", "778")
APPEALS = {"gas": 66, "electricity": 123, "water": 72, "heating": 206, "housing": 131, "land": 30, None: 8}
ANSWER_HOURS = {"gas": 18, "electricity": 14, "water": 22, "heating": 30, "housing": 40, "land": 60, None: 20}
ANNOUNCEMENTS = {"gas": 22, "electricity": 40, "water": 36, "heating": 28, "housing": 16, "land": 8}
UTILITY_KINDS = {"planned_outage": 55, "emergency_outage": 30, "repair_works": 15}
KINDS = {
    "housing": {"repair_works": 50, "information": 30, "reform_notice": 20},
    "land": {"information": 60, "reform_notice": 40},
}
# fmt: off
# Appeals per month, relative: heating peaks in winter, electricity and water in the summer heat.
SEASON = {
    "heating": (3, 3, 2, 1, 0.3, 0.3, 0.3, 0.3, 0.5, 1.5, 3, 3),
    "electricity": (1, 1, 1, 1, 1.2, 1.6, 1.8, 1.6, 1.2, 1, 1, 1),
    "water": (1, 1, 1, 1, 1.2, 1.4, 1.5, 1.4, 1.1, 1, 1, 1),
}
RESOURCE = {"gas": ("газа", "Газдың"), "electricity": ("электроэнергии", "Электр энергиясының"),
            "water": ("воды", "Судың"), "heating": ("отопления и горячей воды", "Жылу мен ыстық судың")}
TITLES = {
    "planned_outage": ("Плановое отключение {ru}", "{kk} жоспарлы өшірілуі"),
    "emergency_outage": ("Аварийное отключение {ru}", "{kk} апаттық өшірілуі"),
    "repair_works": ("Ремонтные работы: {street}", "Жөндеу жұмыстары: {street}"),
    ("housing", "information"): ("Приём жителей в отделе ЖКХ", "ТКШ бөлімінде тұрғындарды қабылдау"),
    ("housing", "reform_notice"): ("Новые тарифы на вывоз мусора", "Қоқыс шығарудың жаңа тарифтері"),
    ("land", "information"): ("Приём граждан по земельным вопросам", "Жер мәселелері бойынша азаматтарды қабылдау"),
    ("land", "reform_notice"): ("Новый порядок выдачи участков", "Учаскелерді берудің жаңа тәртібі"),
}
BODIES = {
    "planned_outage": ("Плановые работы на сетях. Сделайте запас.", "Желілердегі жоспарлы жұмыс. Қор жасап алыңыз."),
    "emergency_outage": ("Аварийная бригада на месте, работы ведутся.", "Апаттық бригада орнында, жұмыс жүріп жатыр."),
    None: ("Подробности по телефону контакт-центра.", "Толығырақ байланыс орталығының телефоны арқылы."),
}
STREETS = ("ул. Байтурсынова", "пр. Тауке хана", "ул. Жибек жолы", "пр. Республики", "ул. Толе би", "мкр. Нурсат",
           "мкр. Самал-1", "ул. Казыбек би", "ул. Капал батыра", "мкр. Кайтпас", "ул. Желтоксан", "мкр. Туран")
APPEAL_TEXTS = {  # (Russian, Kazakh) examples of what residents write
    "gas": (("Пахнет газом в подъезде", "Нет газа с утра"), ("Кіреберісте газ иісі шығады", "Таңертеңнен газ жоқ")),
    "electricity": (("Нет света во всём доме", "Скачет напряжение"), ("Бүкіл үйде жарық жоқ", "Кернеу секіреді")),
    "water": (("Нет холодной воды", "Течёт труба во дворе"), ("Суық су жоқ", "Аулада құбыр ағып тұр")),
    "heating": (("Холодные батареи", "Нет горячей воды"), ("Батареялар суық", "Ыстық су жоқ")),
    "housing": (("Протекает крыша", "Не вывозят мусор"), ("Шатыр ағып тұр", "Қоқыс шығарылмайды")),
    "land": (("Как оформить участок?", "Сосед занял часть участка"), ("Жерді қалай рәсімдеймін?", "Көршім жерді алды")),
    None: (("Не знаю, куда обратиться", "Помогите разобраться"), ("Қайда жүгінерімді білмеймін", "Көмектесіңізші")),
}
ANSWERS = (("Неисправность устранена, спасибо за обращение.", "Бригада выезжала, работы выполнены."),
           ("Ақау жойылды, өтінішіңізге рахмет.", "Бригада барып, жұмыс орындалды."))
# fmt: on

Echo = Callable[[str], None]


def is_loaded() -> bool:
    """Return whether the demo history is already in the database."""
    found = select(SmsBatch.id).where(SmsBatch.request_id.like(f"{BATCH_PREFIX}%")).limit(1)
    return db.session.scalar(found) is not None


def has_appeals() -> bool:
    """Return whether the database holds any appeal."""
    return db.session.scalar(select(Appeal.id).limit(1)) is not None


def wanted_by_default() -> bool:
    """Return whether `demo-data` adds history unasked: in development, with the log gateway, before any appeal."""
    # Never in production (made-up residents and appeals in the public figures), nor in tests (they build their own).
    development = os.environ.get("HABARLAMA_ENV", "development") == "development" and not current_app.testing
    return development and current_app.config["SMS_GATEWAY"] == "log" and not has_appeals()


def _pick(rng: random.Random, weights: dict):
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _at(day: datetime, hour: float) -> datetime:
    """Return `hour` hours after the local midnight of `day`."""
    return datetime.combine(to_local(day).date(), time(0), tzinfo=local_zone()) + timedelta(hours=hour)


def _insert(model, rows: list[dict], key: str | None = None) -> list[int]:
    """Insert the rows in one batch and return their ids, in order.

    With a unique `key` column: one executemany, then one SELECT to find the ids again (SQLite would
    otherwise run an INSERT … RETURNING per row to keep their order).
    """
    if key is None:
        return list(db.session.scalars(insert(model).returning(model.id, sort_by_parameter_order=True), rows))
    db.session.execute(insert(model.__table__), rows)
    column = getattr(model, key)
    found = dict(db.session.execute(select(column, model.id).where(column.in_([r[key] for r in rows]))).all())
    return [found[r[key]] for r in rows]


class _Text:
    """Just enough of an announcement for announcements.texts to word its SMS."""

    def __init__(self, ann: dict):
        self.__dict__.update(ann, is_outage=ann["kind"].endswith("_outage"))

    def title(self, lang: str) -> str:
        return self.title_kk if lang == "kk" else self.title_ru


class History:
    """One load of the demo history; each stage writes its rows set-based and reports one line."""

    def __init__(self, now: datetime, echo: Echo):
        self.now, self.echo, self.rng = now, echo, random.Random(SEED)
        self.departments = {d.slug: d for d in all_departments() if d.slug in ANNOUNCEMENTS}  # the demo six
        self.districts = all_districts()
        names = [f"{slug}.{role}" for slug in self.departments for role in ("editor", "approver")] + ["operator"]
        users = {name: user_by_email(f"{name}@{DOMAIN}") for name in names}
        if None in users.values():
            raise RuntimeError("the demo staff are missing: load the demo data first")
        self.staff = {name: user.id for name, user in users.items()}
        self.subscribers: list[dict] = []
        self.announcements: list[dict] = []

    def load(self) -> dict[str, int]:
        """Write every stage; return what was added."""
        return {
            "subscribers": self.add_subscribers(),
            "announcements": self.add_announcements(),
            "sms": self.add_sms(),
            "appeals": self.add_appeals(),
        }

    def _phone(self) -> str:
        return "+7" + self.rng.choice(PREFIXES) + f"{self.rng.randrange(10**7):07d}"

    def _subscriber(self, phone: str, dep_ids: list[int]) -> dict:
        rng = self.rng
        created = self.now - timedelta(days=DAYS * rng.random() ** 0.6, minutes=rng.randrange(1440))
        stopped = created + timedelta(days=rng.uniform(1, 60)) if rng.random() < 0.06 else None
        stopped = stopped if stopped and stopped < self.now else None
        districts = {d.id for d in rng.sample(self.districts, 2 if rng.random() < 0.25 else 1)}
        deps = set(dep_ids if rng.random() < 0.2 else rng.sample(dep_ids, rng.randint(1, 3)))
        self.subscribers.append({"district_ids": districts, "department_ids": deps})
        return {
            "phone": phone, "language": "kk" if rng.random() < 0.55 else "ru", "created_at": created,
            "confirmed_at": created + timedelta(minutes=rng.randint(1, 8)), "stopped_at": stopped,
            "status": STOPPED if stopped else ACTIVE,
        }  # fmt: skip

    def add_subscribers(self) -> int:
        phones = list(dict.fromkeys(self._phone() for _ in range(SUBSCRIBERS)))
        taken = set(db.session.scalars(select(Subscriber.phone).where(Subscriber.phone.in_(phones))))
        rows = [self._subscriber(p, [d.id for d in self.departments.values()]) for p in phones if p not in taken]
        for sub, row, sub_id in zip(self.subscribers, rows, _insert(Subscriber, rows, "phone"), strict=True):
            sub.update(row, id=sub_id)
        places = [{"subscriber_id": s["id"], "district_id": d} for s in self.subscribers for d in s["district_ids"]]
        services = [
            {"subscriber_id": s["id"], "department_id": d} for s in self.subscribers for d in s["department_ids"]
        ]
        db.session.execute(insert(subscriber_districts), places)
        db.session.execute(insert(subscriber_departments), services)
        stopped = sum(s["status"] == STOPPED for s in rows)
        followed = f"{len(places)} districts, {len(services)} services"
        self.echo(f"  subscribers: {len(rows)} ({stopped} stopped) following {followed}")
        return len(rows)

    def _times(self, kind: str, slot: str) -> dict:
        """Return when an announcement is published, starts and is planned to end; `slot`: past, current, upcoming."""
        rng, now, urgent = self.rng, self.now, kind == "emergency_outage"
        if slot == "current":
            starts = now - timedelta(hours=rng.uniform(1, 4))
        elif slot == "upcoming":
            starts = _at(now + timedelta(days=1), 10)
        else:
            starts = _at(
                now - timedelta(days=rng.uniform(2, DAYS)), rng.uniform(0, 23) if urgent else rng.choice((9, 10))
            )
        if urgent:
            hours = min(max(rng.lognormvariate(math.log(5), 0.6), 1.5), 30)
            published = min(starts + timedelta(minutes=rng.uniform(10, 45)), now - timedelta(minutes=5))
        else:
            hours = 24 * rng.randint(1, 14) if kind in ("information", "reform_notice") else rng.uniform(3, 10)
            published = min(starts - timedelta(days=rng.uniform(1, 3)), now - timedelta(hours=1))
        ends = starts + timedelta(hours=hours)
        if slot == "current":
            ends = max(ends, now + timedelta(hours=rng.uniform(2, 6)))
        return {"published_at": published, "starts_at": starts, "ends_at": ends}

    def _ending(self, times: dict, urgent: bool) -> dict:
        """Return how a past announcement ended: mostly restored (some early), a few cancelled beforehand."""
        if not urgent and self.rng.random() < 0.08:
            return {
                "status": "cancelled",
                "cancelled_at": times["published_at"] + timedelta(hours=self.rng.uniform(2, 20)),
            }
        early = -self.rng.uniform(0.5, 2) if self.rng.random() < 0.15 else self.rng.gauss(0.2, 0.4)
        restored = max(times["ends_at"] + timedelta(hours=early), times["starts_at"] + timedelta(minutes=30))
        return {"status": "completed", "completed_at": restored}

    def _announcement(self, slug: str, slot: str) -> dict:
        rng = self.rng
        kind = _pick(rng, KINDS.get(slug, UTILITY_KINDS))
        if slot != "past" and kind not in UTILITY_KINDS:
            kind = "planned_outage" if slot == "upcoming" else "emergency_outage"
        times, street, urgent = self._times(kind, slot), rng.choice(STREETS), kind == "emergency_outage"
        ru, kk = TITLES.get((slug, kind)) or TITLES[kind]
        res_ru, res_kk = RESOURCE.get(slug, ("", ""))
        ended = self._ending(times, urgent) if slot == "past" and times["ends_at"] < self.now else {}
        created = times["published_at"] - timedelta(minutes=rng.uniform(5, 15) if urgent else rng.uniform(60, 600))
        last = max(created, times["published_at"], *(v for v in ended.values() if isinstance(v, datetime)))
        return {
            "department_id": self.departments[slug].id, "kind": kind, "urgent": urgent,
            "streets": f"{street}, {rng.randint(1, 120)}", "title_ru": ru.format(ru=res_ru, street=street),
            "title_kk": kk.format(kk=res_kk, street=street), "body_ru": BODIES.get(kind, BODIES[None])[0],
            "body_kk": BODIES.get(kind, BODIES[None])[1], "status": "published", "completed_at": None,
            "cancelled_at": None, "author_id": self.staff[f"{slug}.editor"], "created_at": created, "updated_at": last,
            "approved_by_id": self.staff[f"{slug}.approver"], "version": 1 + bool(ended), **times, **ended,
        }  # fmt: skip

    def _events(self, ann: dict, slug: str) -> list[dict]:
        editor, approver = self.staff[f"{slug}.editor"], self.staff[f"{slug}.approver"]
        published, created = ann["published_at"], ann["created_at"]
        steps = [("created", editor, created), ("submitted", editor, created + timedelta(minutes=3)),
                 ("approved", approver, published), ("published", approver, published)]  # fmt: skip
        if ann["urgent"]:  # an approver publishes an emergency at once
            steps = [("created", approver, created), ("published", approver, published)]
        steps += [(kind, editor, ann[f"{kind}_at"]) for kind in ("completed", "cancelled") if ann[f"{kind}_at"]]
        reasons = {"cancelled": "Работы перенесены"}
        return [
            {"kind": kind, "actor_id": actor, "at": at, "public": kind in ("published", "completed", "cancelled"),
             "old": {}, "new": {}, "reason": reasons.get(kind, "")}
            for kind, actor, at in steps
        ]  # fmt: skip

    def add_announcements(self) -> int:
        plan = [(slug, "past") for slug, n in ANNOUNCEMENTS.items() for _ in range(n)]
        plan += [(self.rng.choice(("electricity", "water", "gas", "heating")), "current") for _ in range(CURRENT)]
        plan += [(self.rng.choice(("electricity", "water", "heating")), "upcoming") for _ in range(UPCOMING)]
        rows = [self._announcement(slug, slot) for slug, slot in plan]
        links, events = [], []
        for (slug, _slot), row, ann_id in zip(plan, rows, _insert(Announcement, rows), strict=True):
            districts = self.rng.sample(self.districts, 2 if self.rng.random() < 0.3 else 1)
            links += [{"announcement_id": ann_id, "district_id": d.id} for d in districts]
            events += [e | {"announcement_id": ann_id} for e in self._events(row, slug)]
            self.announcements.append(row | {"id": ann_id, "districts": districts, "events": {}})
        db.session.execute(insert(announcement_districts), links)
        by_id = {ann["id"]: ann for ann in self.announcements}
        for event, event_id in zip(events, _insert(AnnouncementEvent, events), strict=True):
            by_id[event["announcement_id"]]["events"][event["kind"]] = (event_id, event["at"])
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(r["status"] for r in rows).items()))
        self.echo(f"  announcements: {len(rows)} ({statuses}), {len(events)} events")
        return len(rows)

    def _delivery(self, at: datetime) -> tuple[str, str]:
        """Return (status, reason): most delivered, some failed, some never reported (not in the last two days)."""
        roll = self.rng.random()
        if roll < 0.09:
            return FAILED, self.rng.choice(("expired", "unavailable", "wrong_number"))
        return (SENT, "") if roll < 0.14 and at < self.now - timedelta(days=2) else (DELIVERED, "")

    def _recipients(self) -> dict[tuple, list]:
        """Return {(announcement index, event kind, language, stop hint): [(subscriber, (status, reason))]}.

        As the fan-out does: the first SMS to those following the service in a district, who had
        subscribed by then; "restored" and "cancelled" only to those it reached; a stop hint once per resident.
        """
        groups: dict[tuple, list] = {}
        told: set[int] = set()
        for i, ann in enumerate(self.announcements):
            districts, reached = {d.id for d in ann["districts"]}, []
            at = ann["published_at"]
            for sub in self.subscribers:
                if ann["department_id"] not in sub["department_ids"] or not sub["district_ids"] & districts:
                    continue
                if sub["created_at"] > at or (sub["stopped_at"] and sub["stopped_at"] <= at):
                    continue
                delivery = self._delivery(at)
                groups.setdefault((i, "published", sub["language"], sub["id"] not in told), []).append((sub, delivery))
                told.add(sub["id"])
                reached += [sub] if delivery[0] != FAILED else []
            for kind in ("completed", "cancelled"):
                if kind in ann["events"]:
                    for sub in reached:
                        key = (i, kind, sub["language"], False)
                        groups.setdefault(key, []).append((sub, self._delivery(ann["events"][kind][1])))
        return groups

    def add_sms(self) -> int:
        groups, batches = self._recipients(), []
        for i, kind, lang, hint in groups:
            ann = self.announcements[i]
            event_id, at = ann["events"][kind]
            text = event_sms(_Text(ann), kind, lang, hint)
            request_id = f"{BATCH_PREFIX}{event_id}-{lang}-{int(hint)}"
            batches.append({"request_id": request_id, "gateway": "log", "text": text,
                            "status": "sent", "attempts": 1, "parts": segments.count(text).parts, "cost": 0,
                            "created_at": at, "sent_at": at + timedelta(seconds=2)})  # fmt: skip
        rows = []
        for (i, kind, lang, hint), batch_id, batch in zip(
            groups, _insert(SmsBatch, batches, "request_id"), batches, strict=True
        ):
            ann, at = self.announcements[i], batch["created_at"]
            for sub, (status, reason) in groups[(i, kind, lang, hint)]:
                delivered = at + timedelta(seconds=self.rng.uniform(5, 600)) if status == DELIVERED else None
                rows.append({"event_id": ann["events"][kind][0], "subscriber_id": sub["id"], "phone": sub["phone"],
                             "language": lang, "purpose": "announcement", "text": batch["text"], "with_stop_hint": hint,
                             "urgent": ann["urgent"], "status": status, "reason": reason, "batch_id": batch_id,
                             "parts": batch["parts"], "created_at": at, "next_attempt_at": at,
                             "sent_at": batch["sent_at"], "delivered_at": delivered, "checked_at": None})  # fmt: skip
        db.session.execute(insert(OutboxMessage.__table__), rows)
        counts = Counter(r["status"] for r in rows)
        detail = ", ".join(f"{counts[s]} {s}" for s in (DELIVERED, SENT, FAILED))
        self.echo(f"  announcement SMS: {len(rows)} ({detail}) in {len(batches)} gateway requests")
        return len(rows)

    def _created(self, slug: str | None, n: int) -> list[datetime]:
        """Return n registration times: weighted by season and by the hour residents write."""
        rng, season = self.rng, SEASON.get(slug)
        days = range(DAYS if slug else 3)  # the operators route unclear appeals within days
        weights = [season[(self.now - timedelta(days=d)).month - 1] if season else 1 for d in days]
        hour_weights = [0.2] * 7 + [1, 2, 3, 3, 3, 2.5, 2.5, 3, 3, 2.5, 2, 1.5, 1, 0.6, 0.4, 0.3, 0.2]
        times = []
        for day in rng.choices(days, weights, k=n):
            at = _at(self.now - timedelta(days=day), rng.choices(range(24), hour_weights)[0] + rng.random())
            times.append(at if at < self.now else at - timedelta(days=1))
        return times

    def _outcome(
        self, slug: str | None, created: datetime, due: datetime
    ) -> tuple[str, datetime | None, datetime | None]:
        """Return (status, first answer, closed): most answered in time, some late, a few stuck."""
        rng, roll, answer = self.rng, self.rng.random(), None
        if slug and roll >= 0.04:
            hours = rng.lognormvariate(math.log(ANSWER_HOURS[slug]), 0.9)
            answer = due + timedelta(hours=rng.uniform(4, 200)) if roll < 0.10 else created + timedelta(hours=hours)
        if answer is None or answer > self.now:
            fresh = slug is None or self.now - created < timedelta(days=1) and rng.random() < 0.6
            return ("new" if fresh else "forwarded" if rng.random() < 0.15 else "in_progress"), None, None
        status = _pick(rng, {"answered": 55, "resolved": 37, "rejected": 8})
        closed = min(answer + timedelta(hours=rng.uniform(1, 48)), self.now) if status == "resolved" else answer
        return status, (None if status == "rejected" else answer), closed

    def _resident(self) -> tuple[str, str, int | None]:
        """Return (phone, language, district) of whoever writes: mostly subscribers, some not."""
        if self.rng.random() < 0.65:
            sub = self.rng.choice(self.subscribers)
            return sub["phone"], sub["language"], self.rng.choice(sorted(sub["district_ids"]))
        district = self.rng.choice(self.districts).id if self.rng.random() < 0.8 else None
        return self._phone(), self.rng.choice(("kk", "ru")), district

    def _appeal(self, slug: str | None, created: datetime) -> dict:
        rng, (phone, lang, district) = self.rng, self._resident()
        due = deadlines.answer_due(created)
        status, first, closed = self._outcome(slug, created, due)
        channel, words = _pick(rng, {"sms": 65, "phone": 28, "web": 7}), 1 if lang == "kk" else 0
        editor, text = self.staff.get(f"{slug}.editor"), rng.choice(APPEAL_TEXTS[slug][words])
        row = {"phone": phone, "language": lang, "channel": channel, "status": status, "district_id": district,
               "department_id": self.departments[slug].id if slug else None, "summary": text, "created_at": created,
               "assigned_to_id": editor if status != "new" else None, "due_at": due, "first_answer_at": first,
               "registered_by_id": self.staff["operator"] if channel == "phone" else None, "closed_at": closed,
               "last_message_at": max(created, first or created, closed or created)}  # fmt: skip
        messages = [{"direction": "in", "text": text, "at": created, "staff_id": None}]
        events = [("registered", row["registered_by_id"], created, {"department": slug, "channel": channel}, "")]
        if first:
            messages.append({"direction": "out", "text": rng.choice(ANSWERS[words]), "at": first, "staff_id": editor})
            events.append(("answered", editor, first, {"status": "answered"}, ""))
        if status in ("resolved", "rejected"):
            reason = "Не в компетенции службы" if status == "rejected" else ""
            action = {"resolved": "resolve", "rejected": "reject"}[status]  # as service.change_status records them
            events.append((action, editor, closed, {"status": status}, reason))
        keys = ("kind", "actor_id", "at", "new", "reason")
        return {"row": row, "messages": messages, "events": [dict(zip(keys, e, strict=True), old={}) for e in events]}

    def add_appeals(self) -> int:
        specs = [self._appeal(slug, at) for slug, n in APPEALS.items() for at in self._created(slug, n)]
        # Found again by a provisional number; the real one is made from the id, as the service does.
        ids = _insert(Appeal, [s["row"] | {"number": f"demo-{n:06d}"} for n, s in enumerate(specs)], "number")
        table = Appeal.__table__
        numbers = [{"appeal_id": i, "appeal_number": f"{to_local(s['row']['created_at']):%y}-{i:06d}"}
                   for s, i in zip(specs, ids, strict=True)]  # fmt: skip
        db.session.execute(
            update(table).where(table.c.id == bindparam("appeal_id")).values(number=bindparam("appeal_number")), numbers
        )
        messages = [m | {"appeal_id": i} for s, i in zip(specs, ids, strict=True) for m in s["messages"]]
        events = [e | {"appeal_id": i} for s, i in zip(specs, ids, strict=True) for e in s["events"]]
        db.session.execute(insert(AppealMessage.__table__), messages)
        db.session.execute(insert(AppealEvent.__table__), events)
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(Counter(s["row"]["status"] for s in specs).items()))
        overdue = sum(1 for s in specs if s["row"]["closed_at"] is None and s["row"]["due_at"] < self.now)
        self.echo(f"  appeals: {len(specs)} ({statuses}; {overdue} overdue now), {len(messages)} messages")
        return len(specs)


def load_history(now: datetime, echo: Echo = lambda line: None) -> dict[str, int]:
    """Add the demo history unless it is there already; return what was added (nothing the second time)."""
    if is_loaded():
        echo("  demo history: already loaded, nothing added")
        return {}
    return History(now, echo).load()
