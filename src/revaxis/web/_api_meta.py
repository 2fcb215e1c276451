"""API routes about the service itself: health, OpenAPI, the current user, API
tokens and user administration."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from revaxis._errors import InputError
from revaxis._users import ROLES, User, UserFieldError
from revaxis.web._app import ApiError, users_of, version
from revaxis.web._security import AdminUser, AnyUser

router = APIRouter(prefix="/api/v1")


@router.get("/health", tags=["service"])
def health() -> dict[str, str]:
    """Report that the server runs; the one API route open without authentication."""
    return {"status": "ok", "version": version()}


@router.get("/openapi.json", tags=["service"])
def openapi(request: Request, user: AnyUser) -> dict:
    """Return the OpenAPI description of this API."""
    return request.app.openapi()


class UserOut(BaseModel):
    email: str
    role: str


def _out(user: User) -> UserOut:
    return UserOut(email=user.email, role=user.role)


@router.get("/me", tags=["users"])
def me(user: AnyUser) -> UserOut:
    """Return the authenticated user."""
    return _out(user)


class TokenIn(BaseModel):
    name: str = Field(
        min_length=1, max_length=100, description="What the token is for."
    )


class TokenOut(BaseModel):
    id: int
    name: str
    created_at: str
    last_used_at: str | None
    token: str | None = Field(
        default=None, description="The token itself, returned once at creation."
    )


@router.get("/tokens", tags=["users"])
def list_tokens(request: Request, user: AnyUser) -> list[TokenOut]:
    """List the current user's API tokens (without their secret)."""
    with users_of(request) as users:
        tokens = users.tokens(user.email)
    return [
        TokenOut(
            id=t.token_id,
            name=t.name,
            created_at=t.created_at.isoformat(),
            last_used_at=t.last_used_at.isoformat() if t.last_used_at else None,
        )
        for t in tokens
    ]


@router.post("/tokens", tags=["users"], status_code=201)
def create_token(
    body: TokenIn, request: Request, response: Response, user: AnyUser
) -> TokenOut:
    """Create an API token for the current user; the response is the only place
    where the token can be read."""
    # The body carries the token: no cache may keep it.
    response.headers["Cache-Control"] = "no-store"
    with users_of(request) as users:
        token = users.create_token(user.email, body.name)
        created = users.tokens(user.email)[-1]
    return TokenOut(
        id=created.token_id,
        name=created.name,
        created_at=created.created_at.isoformat(),
        last_used_at=None,
        token=token,
    )


@router.delete("/tokens/{token_id}", tags=["users"], status_code=204)
def revoke_token(token_id: int, request: Request, user: AnyUser) -> None:
    """Revoke one of the current user's API tokens."""
    with users_of(request) as users:
        try:
            users.revoke_token(token_id, user.email)
        except InputError as exc:
            raise ApiError(str(exc), "token_id", 404) from exc


class UserIn(BaseModel):
    email: str
    password: str
    role: str = Field(description=f"One of {', '.join(ROLES)}.")


class RoleIn(BaseModel):
    role: str = Field(description=f"One of {', '.join(ROLES)}.")


@router.get("/users", tags=["users"])
def list_users(request: Request, admin: AdminUser) -> list[UserOut]:
    """List users (admin only)."""
    with users_of(request) as users:
        return [_out(u) for u in users.list()]


@router.post("/users", tags=["users"], status_code=201)
def add_user(body: UserIn, request: Request, admin: AdminUser) -> UserOut:
    """Create a user (admin only)."""
    with users_of(request) as users:
        try:
            return _out(users.add(body.email, body.password, body.role))
        except UserFieldError as exc:
            raise ApiError(str(exc), exc.field) from exc


@router.put("/users/{email}/role", tags=["users"])
def set_role(email: str, body: RoleIn, request: Request, admin: AdminUser) -> UserOut:
    """Change a user's role (admin only); admins cannot change their own, so a
    workspace always keeps an admin."""
    if email.strip().lower() == admin.email:
        raise ApiError("You cannot change your own role: ask another admin.", "email")
    with users_of(request) as users:
        try:
            return _out(users.set_role(email, body.role))
        except InputError as exc:
            status = 404 if "not found" in str(exc) else 400
            raise ApiError(
                str(exc), "email" if status == 404 else "role", status
            ) from exc


@router.delete("/users/{email}", tags=["users"], status_code=204)
def delete_user(email: str, request: Request, admin: AdminUser) -> None:
    """Delete a user and their tokens (admin only); admins cannot delete
    themselves, so a workspace always keeps an admin."""
    if email.strip().lower() == admin.email:
        raise ApiError("You cannot delete your own account.", "email")
    with users_of(request) as users:
        try:
            users.delete(email)
        except InputError as exc:
            raise ApiError(str(exc), "email", 404) from exc
