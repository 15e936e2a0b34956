"""Who may use the web page and the API: users, sessions, API tokens, throttling, the signing key.

- Passwords are hashed with argon2id (argon2-cffi's defaults).
- A session is a random token: the browser holds it signed (itsdangerous, with
  `[web] secret_key`) in an HttpOnly cookie; the store holds only its sha256, its
  CSRF token and its expiry, so logging out (or deleting the row) ends it for good.
- An API token is shown once by `intake token add NAME`; only its sha256 is stored.
- Throttling counts attempts per key (`login:email:...`, `login:ip:...`) in the
  store, so it holds across processes and restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from intake.config import Settings
from intake.errors import BadInput
from intake.store.orm import ApiToken, Throttle, User, WebSession

log = logging.getLogger(__name__)

ROLES = ("engineer", "manager")
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_LIMIT = 5
LOGIN_WINDOW = timedelta(minutes=15)
# Where a generated signing key is kept when `[web] secret_key` is empty.
SECRET_FILE = Path(".intake/web_secret_key")

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not tell who has an account.
# Written out rather than hashed at import (half a second in every `intake` process that imports
# this module); tests/unit/test_web_auth.py checks that its parameters are still the hasher's.
_DUMMY = "$argon2id$v=19$m=65536,t=3,p=4$i+XsweM1fwlbaJn2UW3+VA$vmo7D3TnAye+UBzMk045PSphp8vg9c7qGc5YU/i3HEM"


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def secret_key(settings: Settings, path: Path = SECRET_FILE) -> str:
    """`[web] secret_key`, or the key generated once and kept in `path` (mode 0600)."""
    configured = settings.web.secret_key.get_secret_value()
    if configured:
        return configured
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    log.warning("web: [web] secret_key is empty; generated one and stored it in %s", path.resolve())
    return key


def add_user(session: Session, email: str, role: str, password: str, now: datetime) -> User:
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or any(c.isspace() for c in email):
        raise BadInput(f"not an email address: {email!r}")
    if role not in ROLES:
        raise BadInput(f"--role {role}: one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise BadInput("the password needs at least 8 characters")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise BadInput(f"{email} already has an account")
    user = User(email=email, role=role, password_hash=_hasher.hash(password), active=True, created_at=now)
    session.add(user)
    session.commit()
    return user


def check_password(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower(), User.active.is_(True)))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return user


def throttled(session: Session, keys: list[str], now: datetime, limit: int, window: timedelta) -> bool:
    """Whether any key has `limit` attempts within `window` before `now`."""
    counts = session.execute(
        select(Throttle.key, func.count())
        .where(Throttle.key.in_(keys), Throttle.at > now - window)
        .group_by(Throttle.key)
    ).all()
    return any(n >= limit for _, n in counts)


def count_attempt(session: Session, keys: list[str], now: datetime) -> None:
    session.add_all(Throttle(key=k[:400], at=now) for k in keys)
    session.commit()


def clear_attempts(session: Session, keys: list[str]) -> None:
    session.execute(delete(Throttle).where(Throttle.key.in_(keys)))
    session.commit()


@dataclass(frozen=True)
class SignedIn:
    """The user of one request, and the CSRF token their forms must carry."""

    user_id: int
    email: str
    role: str
    csrf: str
    session_id: int

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"


def open_session(session: Session, user: User, now: datetime) -> str:
    """A new session for `user`; returns the token the cookie carries (signed)."""
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=sha256(token),
            user_id=user.id,
            csrf=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    session.commit()
    return token


def find_session(session: Session, token: str, now: datetime) -> SignedIn | None:
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.token_hash == sha256(token), WebSession.expires_at > now, User.active.is_(True))
    ).first()
    if row is None:
        return None
    web, user = row
    return SignedIn(user.id, user.email, user.role, web.csrf, web.id)


def close_session(session: Session, session_id: int) -> None:
    session.execute(delete(WebSession).where(WebSession.id == session_id))
    session.commit()


def add_token(session: Session, name: str, now: datetime) -> str:
    """A new API token named `name`; the only time its value is shown."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadInput("a token needs a name of 1 to 100 characters")
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise BadInput(f"a token named {name!r} exists")
    token = "itk_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=sha256(token), created_at=now))
    session.commit()
    return token


def check_token(session: Session, token: str, now: datetime) -> str | None:
    """The token's name when it is valid, else None."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == sha256(token), ApiToken.revoked_at.is_(None))
    )
    if row is None:
        return None
    row.last_used_at = now
    session.commit()
    return row.name


def same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())
