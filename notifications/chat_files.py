"""The one check a chat attachment passes before it is stored: allowed type, size, and
leading bytes that match the extension. (Notifications can't use marketplace's upload
checks: it sits below marketplace.)"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from smartpay.errors import DomainError

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
# extension -> (content type we store, accepted leading bytes; None for text: no NUL bytes)
ALLOWED_ATTACHMENTS: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "txt": ("text/plain", None),
    "md": ("text/markdown", None),
    "csv": ("text/csv", None),
    "zip": ("application/zip", _ZIP),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
}


@dataclass(frozen=True)
class CheckedAttachment:
    upload: Any
    name: str
    size: int
    content_type: str


def clean_name(raw: str) -> str:
    name = os.path.basename(raw.replace("\\", "/")).strip()
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = f"{stem[: 250 - len(ext)]}{dot}{ext}"
    return name


def check_attachment(upload: Any) -> CheckedAttachment:
    """Raise ``DomainError`` (``file_type_not_allowed`` / ``file_too_large``) or return the
    upload with the name, size and content type to store. The client's content type is
    ignored: the extension decides, and the first bytes must agree with it."""
    name = clean_name(upload.name or "")
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext not in ALLOWED_ATTACHMENTS:
        raise DomainError(
            f"{name or 'The file'}: this type of file is not allowed. Allowed: "
            f"{', '.join(sorted(ALLOWED_ATTACHMENTS))}.",
            code="file_type_not_allowed",
        )
    if upload.size > MAX_ATTACHMENT_BYTES:
        raise DomainError(
            f"{name} is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB.",
            code="file_too_large",
        )
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    content_type, signatures = ALLOWED_ATTACHMENTS[ext]
    looks_right = b"\x00" not in head if signatures is None else head.startswith(signatures)
    if not looks_right:
        raise DomainError(f"{name} does not look like a .{ext} file.", code="file_type_not_allowed")
    return CheckedAttachment(upload, name, upload.size, content_type)
