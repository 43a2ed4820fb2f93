"""RSS, Atom and iCal feeds of public announcements (same filters as the page)."""

from flask import Blueprint

bp = Blueprint("feeds", __name__, url_prefix="/feeds")


@bp.route("/announcements.rss")
def rss():
    """RSS 2.0 feed."""
    return "", 501


@bp.route("/announcements.atom")
def atom():
    """Atom feed."""
    return "", 501


@bp.route("/announcements.ics")
def ics():
    """iCal feed."""
    return "", 501
