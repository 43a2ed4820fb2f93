"""The one error type services raise; views turn it into a form message or a JSON 4xx."""


class ServiceError(Exception):
    """A refusal a user can act on: a code, a message, an HTTP status and field errors."""

    def __init__(self, code: str, message: str, status: int = 422, fields: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields or {}

    def as_json(self) -> dict:
        """Return the error in the API's `{"error": {...}}` shape."""
        error = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def forbidden(message: str = "You may not do this.") -> ServiceError:
    """Return the error for an action outside the user's role or department."""
    return ServiceError("forbidden", message, 403)


def not_found(message: str = "Not found.") -> ServiceError:
    """Return the error for a record that does not exist (or is not visible)."""
    return ServiceError("not_found", message, 404)
