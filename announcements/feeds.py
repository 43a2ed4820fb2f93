"""RSS, Atom and iCal feeds of public announcements (same filters as the page)."""

import hashlib
import time
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, abort, current_app, request
from flask_babel import gettext as _
from icalendar import Calendar, Event
from werkzeug.http import is_resource_modified

from announcements.models import CANCELLED, PUBLISHED, Announcement
from announcements.present import KIND_LABELS, state_words, window_text
from announcements.queries import Filters, newest_public, newest_public_keys, resolve_filters
from notifier.i18n import current_lang

bp = Blueprint("feeds", __name__, url_prefix="/feeds")

# Bump when the output format changes, so caches holding the old body by ETag let it go.
FORMAT = "1"
EMPTY_FEED_UPDATED = datetime(2026, 1, 1, tzinfo=UTC)
PATHS = {"rss": "/feeds/announcements.rss", "atom": "/feeds/announcements.atom", "ics": "/feeds/announcements.ics"}
CONTENT_TYPES = {
    "rss": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "ics": "text/calendar; charset=utf-8",
}


def _base() -> str:
    return current_app.config["PUBLIC_BASE_URL"]


def _url(path: str, filters: Filters, lang: str) -> str:
    """Return an absolute URL with the filters and the language, independent of the request's host."""
    return f"{_base()}{path}?{urlencode({**filters.args, 'lang': lang})}"


def permalink(ann: Announcement) -> str:
    """Return the absolute public URL of the announcement (its GUID and Atom id)."""
    return f"{_base()}/announcements/{ann.id}"


def feed_title(filters: Filters, lang: str) -> str:
    """Return the feed's title in the language: the service and the chosen filters."""
    parts = [_("Habarlama"), _("Announcements")]
    parts += [f.name(lang) for f in (filters.district, filters.department) if f]
    return " — ".join(parts)


def entry_title(ann: Announcement, lang: str) -> str:
    """Return "<kind>: <title>", plus the state once the works are cancelled or completed."""
    title = f"{KIND_LABELS.get(ann.kind, ann.kind)}: {ann.title(lang)}"
    if ann.status != PUBLISHED:
        title += f" — {_state(ann)}"
    return title


def _state(ann: Announcement) -> str:
    # The state as of the record's last change, not of this request: the text then depends only
    # on the record, which is what the fingerprint ETag covers.
    return state_words(ann, ann.updated_at)


def location(ann: Announcement, lang: str) -> str:
    """Return the districts and streets."""
    where = ", ".join(d.name(lang) for d in ann.districts)
    return f"{where}; {ann.streets}" if ann.streets else where


def entry_text(ann: Announcement, lang: str) -> str:
    """Return the plain-text description: state, window, department, place and body."""
    lines = [_state(ann), window_text(ann), ann.department.name(lang), location(ann, lang), "", ann.body(lang)]
    return "\n".join(lines).strip()


def build_feed(kind: str, anns: list[Announcement], filters: Filters, lang: str, updated: datetime) -> bytes:
    """Return the RSS or Atom document for the announcements, newest first."""
    fg = FeedGenerator()
    fg.load_extension("dc")
    self_url = _url(PATHS[kind], filters, lang)
    fg.id(self_url)
    fg.title(feed_title(filters, lang))
    fg.description(_("Planned outages, repairs and reforms announced by the departments."))
    fg.author(name=_("Habarlama"), uri=_base())
    fg.dc.dc_creator(_("Habarlama"))  # RSS drops an author without an e-mail address
    fg.language(lang)
    # RSS takes the channel <link> from the last link() call: self first, the page last.
    fg.link(href=self_url, rel="self")
    fg.link(href=_url("/", filters, lang), rel="alternate")
    fg.updated(updated)
    for ann in anns:
        fe = fg.add_entry(order="append")
        fe.guid(permalink(ann), permalink=True)
        fe.link(href=permalink(ann), rel="alternate")
        fe.title(entry_title(ann, lang))
        fe.summary(entry_text(ann, lang), type="text")
        fe.published(ann.published_at)
        fe.updated(ann.updated_at)
    return fg.rss_str(pretty=True) if kind == "rss" else fg.atom_str(pretty=True)


def build_calendar(anns: list[Announcement], filters: Filters, lang: str) -> bytes:
    """Return the iCalendar document: one VEVENT per announcement's works window."""
    host = urlsplit(_base()).hostname
    cal = Calendar()
    cal.add("prodid", "-//Habarlama//Announcements//EN")
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", feed_title(filters, lang))
    for ann in anns:
        event = Event()
        event.add("uid", f"announcement-{ann.id}@{host}")
        event.add("dtstamp", ann.updated_at)
        event.add("last-modified", ann.updated_at)
        event.add("sequence", ann.version)
        event.add("dtstart", ann.starts_at)
        event.add("dtend", ann.ends_at)
        event.add("summary", entry_title(ann, lang))
        event.add("description", entry_text(ann, lang))
        event.add("location", location(ann, lang))
        event.add("url", permalink(ann))
        event.add("status", "CANCELLED" if ann.status == CANCELLED else "CONFIRMED")
        cal.add_component(event)
    return cal.to_ical()


def etag(kind: str, lang: str, filters: Filters, keys: list) -> str:
    """Return a strong ETag of what the feed would contain, without building it."""
    args = sorted(filters.args.items())
    key = repr((FORMAT, kind, lang, _base(), args, [(i, v, u.isoformat()) for i, v, u in keys]))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def serve(kind: str) -> Response:
    """Answer 304 from the fingerprint alone when the client is current, else build the feed."""
    filters, errors = resolve_filters(request.args.get("district"), request.args.get("department"))
    if errors:
        abort(404, "; ".join(errors.values()))
    lang = current_lang()
    memo = current_app.extensions.setdefault("habarlama.feed_keys", {})
    seen = memo.get(request.query_string)
    if seen and seen[0] > time.monotonic():  # FEED_KEYS_TTL is well inside max-age=60 below
        keys = seen[1]
    else:
        keys = newest_public_keys(filters, current_app.config["FEED_SIZE"])
        memo[request.query_string] = (time.monotonic() + current_app.config["FEED_KEYS_TTL"], keys)
    updated = max((u for _i, _v, u in keys), default=EMPTY_FEED_UPDATED)
    tag = etag(kind, lang, filters, keys)
    response = Response(content_type=CONTENT_TYPES[kind])
    response.set_etag(tag)
    response.last_modified = updated
    response.cache_control.public = True
    response.cache_control.max_age = 60
    if request.args.get("lang") != lang:
        response.vary.update(("Accept-Language", "Cookie"))  # the language came from these
    if not is_resource_modified(request.environ, etag=tag, last_modified=updated):
        response.status_code = 304
        return response
    bodies = current_app.extensions.setdefault("habarlama.feed_bodies", {})  # ETag -> body, per worker
    body = bodies.get(tag)
    if body is None:
        anns = newest_public(filters, current_app.config["FEED_SIZE"])
        body = build_calendar(anns, filters, lang) if kind == "ics" else build_feed(kind, anns, filters, lang, updated)
        if len(bodies) > 200:
            bodies.clear()
        bodies[tag] = body
    response.set_data(body)
    return response


@bp.route("/announcements.rss")
def rss():
    """RSS 2.0 feed."""
    return serve("rss")


@bp.route("/announcements.atom")
def atom():
    """Atom feed."""
    return serve("atom")


@bp.route("/announcements.ics")
def ics():
    """iCal feed."""
    return serve("ics")
