"""Users of the web app and REST API, with their roles and API tokens.

Both live in the workspace file. Passwords are hashed with argon2id. An API
token is 32 random bytes, so its SHA-256 digest is enough to store it safely
(no password hash is needed for a secret of that entropy), and a request is
checked in one lookup.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from revaxis._errors import InputError

# Each role can do what the roles before it can do.
ROLES = ("viewer", "editor", "admin")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "rvx_"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a login takes the same
# time whether or not the account exists.
_DUMMY_HASH = _hasher.hash("revaxis-no-such-user")


class UserFieldError(InputError):
    """An invalid user field, named in `field` (email, role or password)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class User:
    user_id: int
    email: str
    role: str

    def can(self, role: str) -> bool:
        """Return whether this user has `role` or a role above it."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(frozen=True)
class Token:
    token_id: int
    email: str
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UserFieldError(
            f"Invalid role {role!r}: expected one of {', '.join(ROLES)}.", "role"
        )
    return role


def check_email(email: str) -> str:
    cleaned = email.strip().lower()
    if not _EMAIL.match(cleaned):
        raise UserFieldError(
            f"Invalid email {email!r}: expected an address like a@b.com.", "email"
        )
    return cleaned


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserFieldError(
            f"Password too short: use at least {MIN_PASSWORD_LENGTH} characters.",
            "password",
        )
    return password


class UserStore:
    """Users and tokens in the `users` and `api_tokens` tables of a workspace."""

    def __init__(self, raw_connection: object) -> None:
        self._db = raw_connection

    def _rows(self, sql: str, params: list[object] | None = None) -> list[tuple]:
        return self._db.execute(sql, params or []).fetchall()  # type: ignore[attr-defined]

    def count(self) -> int:
        return int(self._rows("SELECT count(*) FROM users")[0][0])

    def list(self) -> list[User]:
        rows = self._rows("SELECT user_id, email, role FROM users ORDER BY email")
        return [User(*row) for row in rows]

    def get(self, user_id: int) -> User | None:
        rows = self._rows(
            "SELECT user_id, email, role FROM users WHERE user_id = ?", [user_id]
        )
        return User(*rows[0]) if rows else None

    def session_stamp(self, user_id: int) -> str | None:
        """Return a value that changes when the user's password changes; a login
        session keeps it, so changing a password ends the user's other sessions."""
        rows = self._rows(
            "SELECT password_hash FROM users WHERE user_id = ?", [user_id]
        )
        return hashlib.sha256(rows[0][0].encode()).hexdigest()[:16] if rows else None

    def find(self, email: str) -> User | None:
        rows = self._rows(
            "SELECT user_id, email, role FROM users WHERE email = ?",
            [email.strip().lower()],
        )
        return User(*rows[0]) if rows else None

    def add(self, email: str, password: str, role: str) -> User:
        """Create a user; an email already taken is an error."""
        email = check_email(email)
        check_role(role)
        check_password(password)
        if self.find(email) is not None:
            raise UserFieldError(
                f"User {email} already exists. Change the role with "
                "`revaxis users set-role` or the password with `revaxis users "
                "password`.",
                "email",
            )
        user_id = int(
            self._rows("SELECT coalesce(max(user_id), 0) + 1 FROM users")[0][0]
        )
        self._rows(
            "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
            [user_id, email, _hasher.hash(password), role, _now()],
        )
        return User(user_id, email, role)

    def _existing(self, email: str) -> User:
        user = self.find(email)
        if user is None:
            raise InputError(
                f"User {email} not found. List users with `revaxis users list`."
            )
        return user

    def set_role(self, email: str, role: str) -> User:
        user = self._existing(email)
        self._rows(
            "UPDATE users SET role = ? WHERE user_id = ?",
            [check_role(role), user.user_id],
        )
        return User(user.user_id, user.email, role)

    def set_password(self, email: str, password: str) -> None:
        user = self._existing(email)
        self._rows(
            "UPDATE users SET password_hash = ? WHERE user_id = ?",
            [_hasher.hash(check_password(password)), user.user_id],
        )

    def delete(self, email: str) -> None:
        """Delete a user and revoke their tokens."""
        user = self._existing(email)
        self._rows("DELETE FROM api_tokens WHERE user_id = ?", [user.user_id])
        self._rows("DELETE FROM users WHERE user_id = ?", [user.user_id])

    def authenticate(self, email: str, password: str) -> User | None:
        """Return the user whose email and password match, else None."""
        rows = self._rows(
            "SELECT user_id, email, role, password_hash FROM users WHERE email = ?",
            [email.strip().lower()],
        )
        stored = rows[0][3] if rows else _DUMMY_HASH
        try:
            _hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not rows:
            return None
        user = User(*rows[0][:3])
        if _hasher.check_needs_rehash(stored):
            self._rows(
                "UPDATE users SET password_hash = ? WHERE user_id = ?",
                [_hasher.hash(password), user.user_id],
            )
        return user

    # Sessions -------------------------------------------------------------

    def revoke_session(self, sid: str, expires_at: dt.datetime) -> None:
        """End a login session before its cookie expires. Rows of sessions
        whose cookies have expired anyway are deleted on the way."""
        self._rows("DELETE FROM revoked_sessions WHERE expires_at < ?", [_now()])
        self._rows(
            "INSERT OR REPLACE INTO revoked_sessions VALUES (?, ?)", [sid, expires_at]
        )

    def session_revoked(self, sid: str) -> bool:
        rows = self._rows("SELECT 1 FROM revoked_sessions WHERE sid = ?", [sid])
        return bool(rows)

    # API tokens -----------------------------------------------------------

    def create_token(self, email: str, name: str) -> str:
        """Create an API token for a user and return it; only its digest is kept,
        so this is the one time it can be read."""
        user = self._existing(email)
        name = name.strip() or "token"
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = int(
            self._rows("SELECT coalesce(max(token_id), 0) + 1 FROM api_tokens")[0][0]
        )
        self._rows(
            "INSERT INTO api_tokens VALUES (?, ?, ?, ?, ?, NULL)",
            [token_id, user.user_id, name, _digest(token), _now()],
        )
        return token

    def tokens(self, email: str | None = None) -> list[Token]:
        sql = (
            "SELECT t.token_id, u.email, t.name, t.created_at, t.last_used_at "
            "FROM api_tokens t JOIN users u USING (user_id)"
        )
        params: list[object] = []
        if email is not None:
            sql += " WHERE u.email = ?"
            params.append(email.strip().lower())
        return [Token(*row) for row in self._rows(sql + " ORDER BY t.token_id", params)]

    def revoke_token(self, token_id: int, email: str | None = None) -> None:
        """Delete a token; with `email`, only when it belongs to that user."""
        matches = [t for t in self.tokens(email) if t.token_id == token_id]
        if not matches:
            raise InputError(f"API token {token_id} not found.")
        self._rows("DELETE FROM api_tokens WHERE token_id = ?", [token_id])

    def user_for_token(self, token: str) -> User | None:
        rows = self._rows(
            "SELECT u.user_id, u.email, u.role, t.token_id FROM api_tokens t "
            "JOIN users u USING (user_id) WHERE t.token_hash = ?",
            [_digest(token)],
        )
        if not rows:
            return None
        self._rows(
            "UPDATE api_tokens SET last_used_at = ? WHERE token_id = ?",
            [_now(), rows[0][3]],
        )
        return User(*rows[0][:3])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
