"""Kubernetes ``Status`` error objects (k8s.io/apimachinery/pkg/api/errors)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered to the client as a ``v1.Status`` with HTTP ``code``."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    st: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        st["details"] = details
    return st


def success_status(details: dict | None = None) -> dict:
    st: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
    if details:
        st["details"] = details
    return st


def _qual(kind) -> str:
    # "deployments.apps" / "pods"
    return kind.plural + ("." + kind.group if kind.group else "")


def not_found(kind, name: str) -> ApiError:
    return ApiError(
        404, "NotFound", f'{_qual(kind)} "{name}" not found', {"name": name, "group": kind.group, "kind": kind.plural}
    )


def already_exists(kind, name: str) -> ApiError:
    return ApiError(
        409,
        "AlreadyExists",
        f'{_qual(kind)} "{name}" already exists',
        {"name": name, "group": kind.group, "kind": kind.plural},
    )


def conflict(kind, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {_qual(kind)} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "group": kind.group, "kind": kind.plural},
    )


def invalid(kind, name: str, causes: list[dict]) -> ApiError:
    gk = kind.kind + ("." + kind.group if kind.group else "")
    text = ", ".join(f"{c.get('field', '')}: {c.get('message', '')}" for c in causes)
    return ApiError(
        422,
        "Invalid",
        f'{gk} "{name}" is invalid: {text}',
        {"name": name, "group": kind.group, "kind": kind.kind, "causes": causes},
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str) -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def expired(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", message, {"causes": [{"message": message}]})
