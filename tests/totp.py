"""RFC 6238 codes computed independently of the library under test."""

import base64
import hashlib
import hmac
import struct
import time
from typing import Any

from django.test import Client


def totp_code(secret: str, at: float | None = None, period: int = 30, digits: int = 6) -> str:
    counter = int((time.time() if at is None else at) // period)
    key = base64.b32decode(secret, casefold=True)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 10**digits:0{digits}d}"


def secret_from_otpauth(url: str) -> str:
    return url.split("secret=")[1].split("&")[0]


def signed_in_with_mfa(user: Any, client: Client | None = None) -> Client:
    """``user`` signed in through allauth with password and a TOTP code, as the admin
    requires of staff; ``client`` carries request details (address, browser) if given."""
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    from tests.factories import PASSWORD

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    client = client or Client()
    signed_in = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert signed_in.status_code == 302, signed_in.content[:300]
    second = client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
    assert second.status_code == 302, second.content[:300]
    return client
