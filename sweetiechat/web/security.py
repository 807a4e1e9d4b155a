"""Tokens and cross-site protection for the web app.

- Annotators are identified by their personal token in the URL; an unknown one gets a 403.
- The admin signs in once with the admin token (``/admin?token=...``), kept in an HttpOnly,
  SameSite=Strict cookie.
- Every form carries a CSRF token, an HMAC of the user's token under a per-database secret,
  so a page on another site cannot post on a user's behalf; a POST whose ``Origin`` names
  another host is refused too.

>>> csrf_token("secret", "annotator", "abc") == csrf_token("secret", "annotator", "abc")
True
>>> check_csrf("secret", "annotator", "abc", "forged")
False
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

__all__ = ["ADMIN_COOKIE", "SECURITY_HEADERS", "check_csrf", "csrf_token", "same_origin"]

#: The admin's session cookie.
ADMIN_COOKIE = "sweetiechat_admin"

#: Sent with every response: no inline scripts (model text can never run), no framing, and no
#: Referer (the personal links carry tokens).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def csrf_token(secret: str, scope: str, token: str) -> str:
    """The CSRF token for a user (``scope`` is ``"admin"`` or ``"annotator"``)."""
    return hmac.new(secret.encode(), f"{scope}:{token}".encode(), hashlib.sha256).hexdigest()


def check_csrf(secret: str, scope: str, token: str, given: str | None) -> bool:
    """Whether ``given`` is the user's CSRF token (constant-time comparison)."""
    return bool(given) and hmac.compare_digest(csrf_token(secret, scope, token), str(given))


def same_origin(origin: str | None, host: str | None) -> bool:
    """False when a request's ``Origin`` header names another host than the one it was sent to
    (a missing or opaque ``null`` origin is left to the CSRF token)."""
    if not origin or origin == "null" or not host:
        return True
    return urlsplit(origin).netloc.lower() == host.lower()
