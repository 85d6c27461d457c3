"""The check a chat attachment passes before it is stored: the platform's one upload
check (``smartpay.uploads``) with the chat's size limit."""

from __future__ import annotations

from typing import Any

from smartpay.uploads import CheckedFile, check_upload

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024


def check_attachment(upload: Any) -> CheckedFile:
    """Raise ``DomainError`` (``file_type_not_allowed`` / ``file_too_large``) or return the
    upload with the name, size and content type to store."""
    return check_upload(upload, max_bytes=MAX_ATTACHMENT_BYTES)
