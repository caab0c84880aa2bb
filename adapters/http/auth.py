"""Who is calling: client tokens (Bearer) for the API, Basic auth for webhooks.

A token of another project gets 404 for every path of this one, as if it did not
exist; a member asking for an admin change gets 403.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from adapters.http.errors import NOT_FOUND, ApiError
from application.projects import Principal

UNAUTHORIZED = ApiError(401, "unauthorized", "a valid bearer token is required",
                        headers={"WWW-Authenticate": "Bearer"})


def caller(request: Request, project_id: str) -> Principal:
    """FastAPI dependency: the authenticated caller, who must belong to the project."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UNAUTHORIZED
    principal = request.app.state.context.projects.authenticate(token.strip())
    if principal is None:
        raise UNAUTHORIZED
    if principal.project_id != project_id:
        raise NOT_FOUND
    request.state.changed_by = principal.token_id
    return principal


def admin(request: Request, project_id: str) -> Principal:
    principal = caller(request, project_id)
    if not principal.is_admin:
        raise ApiError(403, "forbidden", "this change needs an admin token")
    return principal


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
