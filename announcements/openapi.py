"""The OpenAPI 3.1 description of JSON API v1, served at /api/v1/openapi.json."""

import copy

from flask import current_app

from announcements.models import KINDS, PUBLIC_STATUSES, STATUSES

MAX_PAGE, MAX_PER_PAGE = 999_999, 100
EVENT_KINDS = (
    "created",
    "edited",
    "submitted",
    "returned",
    "approved",
    "published",
    "extended",
    "completed",
    "cancelled",
)
# Summary and description of each lifecycle action, POST /announcements/{id}/<action>.
ACTIONS = {
    "submit": ("Send a draft for approval", "Both Kazakh and Russian texts are required (422 `incomplete`)."),
    "return": ("Return a pending announcement to its author", "Approvers of the department; `reason` is required."),
    "approve": (
        "Approve a pending announcement",
        "Approvers of the department (or admins) other than the author. Publishes at once, or schedules it "
        "when `publish_at` is in the future.",
    ),
    "publish": (
        "Publish at once",
        "Approvers of the department: a scheduled announcement early, or an urgent one without approval.",
    ),
    "extend": ("Move the planned end later", "Published announcements; `ends_at` and `reason` are required."),
    "complete": ("Mark the works finished and the service restored", "Published announcements."),
    "cancel": ("Cancel", "A published announcement needs a `reason` residents will read."),
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str) -> dict:
    return {"$ref": f"#/components/parameters/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: dict, headers: dict | None = None) -> dict:
    return {"description": description, "content": _json(schema), **({"headers": headers} if headers else {})}


def _errors(*names: str) -> dict:
    codes = {"BadRequest": 400, "Unauthorized": 401, "Forbidden": 403, "NotFound": 404, "Conflict": 409}
    codes["ValidationFailed"] = 422
    return {str(codes[name]): {"$ref": f"#/components/responses/{name}"} for name in names}


def _localized(description: str, required: tuple[str, ...] = ("kk", "ru")) -> dict:
    return {
        "type": "object",
        "description": description,
        "properties": {"kk": {"type": "string"}, "ru": {"type": "string"}},
        "required": list(required),
    }


def _object(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties if required is None else required)}


def _list_of(key: str, schema: str) -> dict:
    return _object({key: {"type": "array", "items": _ref(schema)}})


def _query(name: str, description: str, schema: dict) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


TEXT = {"type": "string"}
INTEGER = {"type": "integer"}
DATETIME = {"type": "string", "format": "date-time", "examples": ["2026-12-01T10:00:00+05:00"]}
DATETIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
READ_SECURITY = [{}, {"bearerAuth": []}]
WRITE_SECURITY = [{"bearerAuth": []}]

INPUT_PROPERTIES = {
    "department": {"type": "string", "description": "Department slug.", "examples": ["water"]},
    "kind": {"type": "string", "enum": list(KINDS)},
    "urgent": {"type": "boolean", "default": False},
    "districts": {"type": "array", "items": TEXT, "minItems": 1, "description": "District slugs."},
    "streets": {"type": "string", "maxLength": 1000},
    "starts_at": DATETIME,
    "ends_at": {**DATETIME, "description": "After starts_at."},
    "publish_at": {**DATETIME_OR_NULL, "description": "When to publish once approved; null: at once."},
    "title": _localized("Up to 200 characters each; a draft needs one language, submission both.", ()),
    "body": _localized("Up to 4000 characters each; submission needs both.", ()),
}

RECORD_PROPERTIES = {
    "id": INTEGER,
    **INPUT_PROPERTIES,
    "title": _localized("Title per language."),
    "body": _localized("Text per language."),
    "publish_at": DATETIME_OR_NULL,
    "status": {"type": "string", "enum": list(STATUSES)},
    "state": _localized("The state in words, as on the public page."),
    "published_at": DATETIME_OR_NULL,
    "completed_at": DATETIME_OR_NULL,
    "cancelled_at": DATETIME_OR_NULL,
    "extended": {"type": "boolean"},
    "version": {**INTEGER, "description": "Grows with every change."},
    "updated_at": DATETIME,
    "url": {"type": "string", "format": "uri", "description": "The public page of the announcement."},
    "history": {
        "type": "array",
        "items": _ref("Event"),
        "description": "Public events only, unless the caller is staff of the department, an operator or admin.",
    },
}

LANGUAGE_PREVIEW = _object(
    {
        "text": TEXT,
        "chars": INTEGER,
        "encoding": {"type": "string", "enum": ["GSM-7", "UCS-2"]},
        "parts": {**INTEGER, "minimum": 1},
        "recipients": INTEGER,
    }
)

SCHEMAS = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": {"type": "string", "examples": ["validation_error"]},
                    "message": TEXT,
                    "fields": {
                        "type": "object",
                        "additionalProperties": TEXT,
                        "description": "A message per field, e.g. `ends_at` or `title.kk`.",
                    },
                },
                required=["code", "message"],
            )
        }
    ),
    "LocalizedText": _localized("Text in Kazakh and Russian."),
    "Department": _object(
        {
            "slug": TEXT,
            "name": _ref("LocalizedText"),
            "working_hours": _object(
                {
                    "days": {
                        "type": "array",
                        "items": {**INTEGER, "minimum": 1, "maximum": 7},
                        "description": "ISO weekdays, 1 = Monday.",
                    },
                    "start": {"type": "string", "examples": ["09:00"]},
                    "end": {"type": "string", "examples": ["19:00"]},
                }
            ),
        }
    ),
    "District": _object({"slug": TEXT, "name": _ref("LocalizedText")}),
    "AnnouncementInput": _object(
        INPUT_PROPERTIES, required=["department", "kind", "districts", "starts_at", "ends_at", "title"]
    ),
    "AnnouncementPatch": {
        **_object(INPUT_PROPERTIES, required=[]),
        "description": "A JSON merge patch (RFC 7396) of AnnouncementInput: objects merge, null removes a value.",
        "additionalProperties": False,
    },
    "ActionInput": _object(
        {"reason": TEXT, "ends_at": {**DATETIME, "description": "The new end (extend only)."}}, required=[]
    ),
    "Event": _object(
        {
            "kind": {"type": "string", "enum": list(EVENT_KINDS)},
            "at": DATETIME,
            "reason": TEXT,
            "old": {"type": "object", "description": "Changed values before."},
            "new": {"type": "object", "description": "Changed values after."},
        }
    ),
    "Announcement": _object(RECORD_PROPERTIES),
    "SmsPreview": _object(
        {
            "recipients": INTEGER,
            "languages": _object({"kk": LANGUAGE_PREVIEW, "ru": LANGUAGE_PREVIEW}),
            "estimated_cost": {"type": "number"},
            "currency": {"type": "string", "examples": ["KZT"]},
            "price_per_part": {"type": "number"},
        }
    ),
    "AnnouncementWithPreview": {"allOf": [_ref("Announcement"), _object({"sms_preview": _ref("SmsPreview")})]},
    "AnnouncementList": _object(
        {
            "announcements": {"type": "array", "items": _ref("Announcement")},
            "page": INTEGER,
            "per_page": INTEGER,
            "total": INTEGER,
        }
    ),
    "SubscriptionInput": _object(
        {
            "phone": {"type": "string", "description": "A Kazakhstan mobile number.", "examples": ["+77011234567"]},
            "districts": {"type": "array", "items": TEXT, "minItems": 1, "description": "District slugs."},
            "departments": {
                "type": "array",
                "items": TEXT,
                "description": "Department (service) slugs; empty or absent: every service.",
            },
            "language": {"type": "string", "enum": ["kk", "ru"], "description": "Language of the SMS."},
        },
        required=["phone", "districts", "language"],
    ),
    "SubscriptionConfirmInput": _object(
        {"phone": TEXT, "code": {"type": "string", "pattern": "^[0-9 ]+$", "examples": ["123456"]}}
    ),
    "CodeSent": _object({"status": {"type": "string", "enum": ["code_sent"]}, "expires_at": DATETIME}),
    "Subscription": _object(
        {
            "phone": {"type": "string", "description": "Masked.", "examples": ["+7701***4567"]},
            "districts": {"type": "array", "items": TEXT},
            "departments": {"type": "array", "items": TEXT},
            "language": {"type": "string", "enum": ["kk", "ru"]},
            "status": {"type": "string", "enum": ["active", "stopped"]},
            "confirmed_at": DATETIME_OR_NULL,
        }
    ),
}

_ERROR = _json(_ref("Error"))
RESPONSES = {
    "BadRequest": {"description": "The query or the body cannot be read.", "content": _ERROR},
    "Unauthorized": {
        "description": "No bearer token, or one that is not valid.",
        "headers": {"WWW-Authenticate": {"description": "`Bearer`", "schema": TEXT}},
        "content": _ERROR,
    },
    "Forbidden": {"description": "Outside the caller's role or department.", "content": _ERROR},
    "NotFound": {"description": "No such record, or not visible to the caller.", "content": _ERROR},
    "Conflict": {"description": "Not possible in the record's status, or changed meanwhile.", "content": _ERROR},
    "ValidationFailed": {"description": "Some fields need attention (see `fields`).", "content": _ERROR},
    "TooManyRequests": {
        "description": "A rate limit (per IP, per phone), the daily number of codes, or wrong codes.",
        "headers": {"Retry-After": {"description": "Seconds to wait, when known.", "schema": INTEGER}},
        "content": _ERROR,
    },
}

PARAMETERS = {
    "AnnouncementId": {"name": "announcement_id", "in": "path", "required": True, "schema": INTEGER},
    "District": _query("district", "District slug.", TEXT),
    "Department": _query("department", "Department slug.", TEXT),
    "Status": _query(
        "status", f"Without a token only {', '.join(PUBLIC_STATUSES)}.", {"type": "string", "enum": list(STATUSES)}
    ),
    "Page": _query("page", "Page number.", {**INTEGER, "minimum": 1, "maximum": MAX_PAGE, "default": 1}),
    "PerPage": _query("per_page", "Page size.", {**INTEGER, "minimum": 1, "maximum": MAX_PER_PAGE}),
}

ALL_WRITE_ERRORS = _errors("BadRequest", "Unauthorized", "Forbidden", "NotFound", "Conflict", "ValidationFailed")

PATHS = {
    "/departments": {
        "get": {
            "operationId": "listDepartments",
            "summary": "Departments: slugs, names and working hours",
            "tags": ["reference"],
            "responses": {"200": _ok("Every department.", _list_of("departments", "Department"))},
        }
    },
    "/districts": {
        "get": {
            "operationId": "listDistricts",
            "summary": "Districts: slugs and names",
            "tags": ["reference"],
            "responses": {"200": _ok("Every district.", _list_of("districts", "District"))},
        }
    },
    "/announcements": {
        "get": {
            "operationId": "listAnnouncements",
            "summary": "Announcements the caller may see",
            "description": "Without a token: public ones, current and upcoming first. With a token: also the "
            "non-public ones of the caller's department (operators and admins: all), newest change first.",
            "tags": ["announcements"],
            "security": READ_SECURITY,
            "parameters": [_param(p) for p in ("District", "Department", "Status", "Page", "PerPage")],
            "responses": {
                "200": _ok("One page of announcements.", _ref("AnnouncementList")),
                **_errors("BadRequest", "Unauthorized"),
            },
        },
        "post": {
            "operationId": "createAnnouncement",
            "summary": "Create a draft",
            "tags": ["announcements"],
            "security": WRITE_SECURITY,
            "requestBody": {"required": True, "content": _json(_ref("AnnouncementInput"))},
            "responses": {
                "201": _ok(
                    "The draft with its SMS preview.",
                    _ref("AnnouncementWithPreview"),
                    {"Location": {"schema": {"type": "string", "format": "uri"}}},
                ),
                **_errors("BadRequest", "Unauthorized", "Forbidden", "ValidationFailed"),
            },
        },
    },
    "/announcements/{announcement_id}": {
        "get": {
            "operationId": "getAnnouncement",
            "summary": "One announcement",
            "tags": ["announcements"],
            "security": READ_SECURITY,
            "parameters": [_param("AnnouncementId")],
            "responses": {"200": _ok("The record.", _ref("Announcement")), **_errors("Unauthorized", "NotFound")},
        },
        "patch": {
            "operationId": "editAnnouncement",
            "summary": "Change a draft",
            "tags": ["announcements"],
            "security": WRITE_SECURITY,
            "parameters": [_param("AnnouncementId")],
            "requestBody": {
                "required": True,
                "content": {
                    media: {"schema": _ref("AnnouncementPatch")}
                    for media in ("application/merge-patch+json", "application/json")
                },
            },
            "responses": {
                "200": _ok("The changed draft with its SMS preview.", _ref("AnnouncementWithPreview")),
                **ALL_WRITE_ERRORS,
            },
        },
    },
    **{
        f"/announcements/{{announcement_id}}/{action}": {
            "post": {
                "operationId": f"{action}Announcement",
                "summary": summary,
                "description": description,
                "tags": ["announcements"],
                "security": WRITE_SECURITY,
                "parameters": [_param("AnnouncementId")],
                "requestBody": {"required": action in ("return", "extend"), "content": _json(_ref("ActionInput"))},
                "responses": {"200": _ok("The updated record.", _ref("Announcement")), **ALL_WRITE_ERRORS},
            }
        }
        for action, (summary, description) in ACTIONS.items()
    },
    "/subscriptions": {
        "post": {
            "operationId": "requestSubscription",
            "summary": "Ask for a confirmation code by SMS",
            "description": "For residents, without a token. The code is valid for 10 minutes; the preferences apply "
            "only once it is confirmed (same phone: they replace the old ones). At most 3 codes per phone a day.",
            "tags": ["subscriptions"],
            "security": [],
            "requestBody": {"required": True, "content": _json(_ref("SubscriptionInput"))},
            "responses": {
                "202": _ok("A code is on its way by SMS.", _ref("CodeSent")),
                **_errors("BadRequest", "ValidationFailed"),
                "429": {"$ref": "#/components/responses/TooManyRequests"},
            },
        }
    },
    "/subscriptions/confirm": {
        "post": {
            "operationId": "confirmSubscription",
            "summary": "Confirm the code and start the subscription",
            "description": "For residents, without a token. Five wrong codes lock the code: request a new one.",
            "tags": ["subscriptions"],
            "security": [],
            "requestBody": {"required": True, "content": _json(_ref("SubscriptionConfirmInput"))},
            "responses": {
                "200": _ok("The subscription.", _ref("Subscription")),
                **_errors("BadRequest", "ValidationFailed"),
                "429": {"$ref": "#/components/responses/TooManyRequests"},
            },
        }
    },
    "/openapi.json": {
        "get": {
            "operationId": "getOpenApi",
            "summary": "This document",
            "tags": ["reference"],
            "responses": {"200": _ok("OpenAPI 3.1.", {"type": "object"})},
        }
    },
}

# Appeals (appeals/api.py): staff only. Every call needs a token, reads included: the role "staff" below
# says so for the GETs (any staff member's token; department staff see their own department's appeals).
APPEAL_STATUSES = ("new", "in_progress", "answered", "resolved", "forwarded", "rejected")
APPEAL_READ_SECURITY = [{"bearerAuth": ["staff"]}]
SCHEMAS.update(
    {
        "AppealMessage": _object(
            {
                "direction": {"type": "string", "enum": ["in", "out"], "description": "in: from the resident."},
                "text": TEXT,
                "at": DATETIME,
            }
        ),
        "AppealEvent": _object(
            {
                "kind": {"type": "string", "examples": ["registered", "take", "answered", "forward", "extended"]},
                "at": DATETIME,
                "actor": {"type": ["string", "null"], "description": "The staff member's e-mail; null: the system."},
                "reason": TEXT,
                "old": {"type": "object", "description": "Changed values before."},
                "new": {"type": "object", "description": "Changed values after."},
            }
        ),
        "Appeal": _object(
            {
                "number": {"type": "string", "examples": ["26-000042"]},
                "status": {"type": "string", "enum": list(APPEAL_STATUSES)},
                "channel": {"type": "string", "enum": ["sms", "phone", "in_person", "web", "api"]},
                "department": {"type": ["string", "null"], "description": "Slug; null: waits for an operator."},
                "district": {"type": ["string", "null"], "description": "Slug."},
                "announcement_id": {"type": ["integer", "null"], "description": "The announcement it answers."},
                "phone": {"type": "string", "description": "The resident's number.", "examples": ["+77011234567"]},
                "language": {"type": "string", "enum": ["kk", "ru"]},
                "created_at": DATETIME,
                "due_at": {**DATETIME, "description": "15 working days by law, unless extended."},
                "overdue": {"type": "boolean"},
                "first_answer_at": DATETIME_OR_NULL,
                "closed_at": DATETIME_OR_NULL,
                "messages": {"type": "array", "items": _ref("AppealMessage")},
                "history": {"type": "array", "items": _ref("AppealEvent")},
            }
        ),
        "AppealList": _object(
            {
                "appeals": {"type": "array", "items": _ref("Appeal")},
                "page": INTEGER,
                "per_page": INTEGER,
                "total": INTEGER,
            }
        ),
        "ReplyInput": _object({"text": {"type": "string", "minLength": 1, "maxLength": 1000}}),
        "ReplyCreated": _object({"message": _ref("AppealMessage"), "appeal": _ref("Appeal")}),
        "AppealStatusInput": _object(
            {
                "status": {"type": "string", "enum": ["in_progress", "resolved", "forwarded", "rejected"]},
                "reason": {"type": "string", "description": "Required to reject; the resident reads it."},
                "department": {"type": "string", "description": "Slug of the department to forward to."},
            },
            required=["status"],
        ),
        "DeadlineInput": _object(
            {"days": {**INTEGER, "minimum": 1, "maximum": 30, "description": "Working days."}, "reason": TEXT}
        ),
    }
)
PARAMETERS.update(
    {
        "AppealNumber": {"name": "number", "in": "path", "required": True, "schema": TEXT},
        "AppealStatus": _query("status", "Appeal status.", {"type": "string", "enum": list(APPEAL_STATUSES)}),
        "Overdue": _query("overdue", "true: open past the deadline; false: the others.", {"type": "boolean"}),
    }
)


def _appeal_action(operation: str, summary: str, description: str, body: str, created: bool = False) -> dict:
    answer = _ok("The message and the updated appeal.", _ref("ReplyCreated")) if created else None
    return {
        "post": {
            "operationId": operation,
            "summary": summary,
            "description": description,
            "tags": ["appeals"],
            "security": WRITE_SECURITY,
            "parameters": [_param("AppealNumber")],
            "requestBody": {"required": True, "content": _json(_ref(body))},
            "responses": {
                **({"201": answer} if created else {"200": _ok("The updated appeal.", _ref("Appeal"))}),
                **ALL_WRITE_ERRORS,
            },
        }
    }


PATHS.update(
    {
        "/appeals": {
            "get": {
                "operationId": "listAppeals",
                "summary": "Appeals the caller works on",
                "description": "Department staff: their department's only (filtering another department is 403); "
                "operators and admins: all. Newest first.",
                "tags": ["appeals"],
                "security": APPEAL_READ_SECURITY,
                "parameters": [
                    _param(p) for p in ("Department", "District", "AppealStatus", "Overdue", "Page", "PerPage")
                ],
                "responses": {
                    "200": _ok("One page of appeals.", _ref("AppealList")),
                    **_errors("BadRequest", "Unauthorized", "Forbidden"),
                },
            }
        },
        "/appeals/{number}": {
            "get": {
                "operationId": "getAppeal",
                "summary": "One appeal with its messages and history",
                "tags": ["appeals"],
                "security": APPEAL_READ_SECURITY,
                "parameters": [_param("AppealNumber")],
                "responses": {
                    "200": _ok("The appeal.", _ref("Appeal")),
                    **_errors("Unauthorized", "Forbidden", "NotFound"),
                },
            }
        },
        "/appeals/{number}/replies": _appeal_action(
            "replyToAppeal", "Answer the resident by SMS", "The appeal becomes answered.", "ReplyInput", created=True
        ),
        "/appeals/{number}/status": _appeal_action(
            "changeAppealStatus",
            "Take, resolve, forward or reject",
            "in_progress (take), resolved, forwarded (needs `department`; the resident is told), rejected (needs "
            "`reason`; the resident is told). 409 when the current status does not allow it.",
            "AppealStatusInput",
        ),
        "/appeals/{number}/deadline": _appeal_action(
            "extendAppealDeadline",
            "Extend the deadline",
            "By working days, with a reason the resident reads by SMS; not for closed appeals (409).",
            "DeadlineInput",
        ),
    }
)

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Habarlama API",
        "version": "1",
        "description": "Announcements of the utility and land departments. Errors are "
        '`{"error": {"code", "message", "fields"}}` with a 4xx status; nothing is half-written on an error.',
    },
    "servers": [{"url": "/api/v1"}],
    "tags": [{"name": "reference"}, {"name": "announcements"}, {"name": "subscriptions"}, {"name": "appeals"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "responses": RESPONSES,
        "parameters": PARAMETERS,
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "An API token."}},
    },
}


def document() -> dict:
    """Return the OpenAPI document, with this site's default page size."""
    spec = copy.deepcopy(DOCUMENT)
    spec["components"]["parameters"]["PerPage"]["schema"]["default"] = current_app.config["PAGE_SIZE"]
    return spec
