"""Who is calling: client tokens (Bearer) for the API, Basic auth for webhooks.

A token of another project gets 404 for every path of this one, as if it did not
exist; a member asking for an admin change gets 403.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBasic, HTTPBearer

from smsledger.adapters.http.errors import NOT_FOUND, ApiError
from smsledger.adapters.http.context import context_of
from smsledger.application.projects import Principal, ProjectDirectory

UNAUTHORIZED = ApiError(401, "unauthorized", "a valid bearer token is required",
                        headers={"WWW-Authenticate": "Bearer"})


def authenticate(projects: ProjectDirectory, authorization: str | None,
                 project_id: str) -> Principal:
    """The caller of a project's endpoint, or ApiError (401, or 404 for another project)."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UNAUTHORIZED
    principal = projects.authenticate(token.strip())
    if principal is None:
        raise UNAUTHORIZED
    if principal.project_id != project_id:
        raise NOT_FOUND
    return principal


# Declared for the OpenAPI document; the checks themselves are the functions here.
class _DocumentedBasic(HTTPBasic):
    """HTTP Basic in the OpenAPI document only: FastAPI's own check answers malformed
    headers in its own words; the webhooks check credentials themselves, uniformly."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


BEARER = HTTPBearer(auto_error=False, description="a project's API token")
BASIC = _DocumentedBasic(auto_error=False, description="integration id and its webhook secret")


def caller(request: Request, project_id: str,
           _: HTTPAuthorizationCredentials | None = Security(BEARER)) -> Principal:
    """FastAPI dependency: the authenticated caller, who must belong to the project.
    The service middleware authenticates before the body is read; this reuses it."""
    principal = getattr(request.state, "principal", None)
    if principal is None or principal.project_id != project_id:
        principal = authenticate(context_of(request).projects,
                                 request.headers.get("authorization"), project_id)
    return principal


def admin(request: Request, project_id: str,
          _: HTTPAuthorizationCredentials | None = Security(BEARER)) -> Principal:
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
