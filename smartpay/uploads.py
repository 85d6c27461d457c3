"""The one check every uploaded file passes before it is stored (submissions, dispute
evidence, chat attachments): an allowed type, a size limit, leading bytes that agree with
the extension, and its SHA-256. The client's content type is ignored: the extension
decides, and the content must match it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from django.http import FileResponse, Http404

from smartpay.errors import DomainError

CHUNK = 64 * 1024

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
# extension -> (content type we store, accepted leading bytes or None when not cheap to check)
ALLOWED_FILES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    "txt": ("text/plain", None),
    "md": ("text/markdown", None),
    "csv": ("text/csv", None),
    "zip": ("application/zip", _ZIP),
    "docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ZIP,
    ),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    "pptx": (
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ZIP,
    ),
    "mp4": ("video/mp4", None),  # checked by its "ftyp" box below
}
TEXT_EXTENSIONS = {"txt", "md", "csv"}


@dataclass(frozen=True)
class CheckedFile:
    upload: Any
    name: str
    size: int
    content_type: str
    sha256: str


def clean_name(raw: str) -> str:
    name = os.path.basename(raw.replace("\\", "/")).strip()
    stem, dot, ext = name.rpartition(".")
    if len(name) > 255:
        name = f"{stem[: 250 - len(ext)]}{dot}{ext}"
    return name


def leading_bytes_match(ext: str, head: bytes) -> bool:
    if ext == "mp4":
        return head[4:8] == b"ftyp"
    if ext in TEXT_EXTENSIONS:
        return b"\x00" not in head  # binary content renamed to .txt
    signatures = ALLOWED_FILES[ext][1]
    return signatures is None or head.startswith(signatures)


def check_upload(upload: Any, *, max_bytes: int) -> CheckedFile:
    """Raise ``DomainError`` (``file_type_not_allowed`` / ``file_too_large``) or return the
    upload with the name, size, content type and SHA-256 to store."""
    name = clean_name(upload.name or "")
    ext = name.rpartition(".")[2].lower() if "." in name else ""
    if ext not in ALLOWED_FILES:
        raise DomainError(
            f"{name or 'The file'}: this type of file is not allowed. Allowed: "
            f"{', '.join(sorted(ALLOWED_FILES))}.",
            code="file_type_not_allowed",
        )
    if upload.size > max_bytes:
        raise DomainError(
            f"{name} is larger than {max_bytes // (1024 * 1024)} MB.", code="file_too_large"
        )
    digest = hashlib.sha256()
    upload.seek(0)
    head = b""
    for chunk in upload.chunks(CHUNK):
        if len(head) < 16:
            head += chunk[: 16 - len(head)]
        digest.update(chunk)
    if ext in TEXT_EXTENSIONS:
        upload.seek(0)
        head = upload.read(8192)
    upload.seek(0)
    if not leading_bytes_match(ext, head):
        raise DomainError(f"{name} does not look like a .{ext} file.", code="file_type_not_allowed")
    return CheckedFile(upload, name, upload.size, ALLOWED_FILES[ext][0], digest.hexdigest())


def private_download(stored: Any, *, name: str, content_type: str) -> FileResponse:
    """A stored file as an attachment for the one person allowed to fetch it: never
    sniffed as another type, never cached by a shared cache. A file missing from storage
    is a 404, not a 500."""
    try:
        handle = stored.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=name,
        content_type=content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
