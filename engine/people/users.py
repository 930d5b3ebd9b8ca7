"""Local accounts and groups. Passwords hashed with scrypt (stdlib), API tokens stored hashed."""
from __future__ import annotations

import hashlib
import hmac
import secrets

from arsflow.engine.errors import InvalidInput, NotFound
from arsflow.engine.models import User, UserGroup
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(stored: str | None, password: str) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, n, r, p, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    return hmac.compare_digest(candidate.hex(), digest)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(session: Session, login: str, groups=(), *, password: str | None = None, email: str | None = None,
             display_name: str | None = None, now=None) -> User:
    """Create or update an account; its groups become exactly `groups` when given."""
    login = (login or "").strip()
    if not login or any(c.isspace() for c in login):
        raise InvalidInput("identifiant invalide : non vide et sans espace")
    user = session.get(User, login)
    if user is None:
        user = User(login=login, created_at=now, active=True, calendar_token=secrets.token_urlsafe(24))
        session.add(user)
    if password is not None:
        if len(password) < 8:
            raise InvalidInput("mot de passe trop court : 8 caractères au moins")
        user.password_hash = hash_password(password)
        user.session_version = (user.session_version or 0) + 1  # every open session ends
    if email is not None:
        user.email = email
    if display_name is not None:
        user.display_name = display_name
    session.flush()
    if groups:
        session.execute(delete(UserGroup).where(UserGroup.login == login))
        for group in dict.fromkeys(g.strip() for g in groups if g and g.strip()):
            session.add(UserGroup(login=login, group=group))
    return user


def groups_of(session: Session, login: str) -> set[str]:
    return set(session.scalars(select(UserGroup.group).where(UserGroup.login == login)))


def get_user(session: Session, login: str) -> User:
    user = session.get(User, login)
    if user is None or not user.active:
        raise NotFound(f"utilisateur {login!r} inconnu")
    return user


# Checked against when the login is unknown, so that the answer takes as long as for a
# known login with a wrong password (no account enumeration by timing).
_dummy_hash: list[str] = []


def _dummy() -> str:
    if not _dummy_hash:  # lazily: the CLI's other commands should not pay for a scrypt
        _dummy_hash.append(hash_password(secrets.token_urlsafe(16)))
    return _dummy_hash[0]


def authenticate(session: Session, login: str, password: str) -> User | None:
    user = session.get(User, login)
    if user is None or not user.active or not user.password_hash:
        check_password(_dummy(), password)
        return None
    if not check_password(user.password_hash, password):
        return None
    return user


def end_sessions(session: Session, login: str) -> None:
    """Every session of `login` stops working (logout, password change)."""
    user = session.get(User, login)
    if user is not None:
        user.session_version = (user.session_version or 0) + 1


def rotate_calendar_token(session: Session, login: str) -> str:
    """A new secret address for the user's iCalendar feed; the old one stops working."""
    user = get_user(session, login)
    user.calendar_token = secrets.token_urlsafe(24)
    return user.calendar_token


def issue_api_token(session: Session, login: str) -> str:
    user = get_user(session, login)
    token = secrets.token_urlsafe(32)
    user.api_token_hash = hash_token(token)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token:
        return None
    return session.scalars(select(User).where(User.api_token_hash == hash_token(token), User.active)).first()
