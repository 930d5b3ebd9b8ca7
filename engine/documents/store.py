"""Content-addressed file store and the types accepted, recognised by their content.

A file is written to a temporary name, flushed, then renamed to its SHA-256: a crash leaves at
worst an orphan temporary or an unreferenced file (harmless), never a half-written document
under a real name. Rows (engine.models.Document) point to files by hash, in the transaction
of the operation that keeps them.
"""
from __future__ import annotations

import hashlib
import io
import os
import posixpath
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from arsflow.engine.errors import InvalidInput, NotFound

PDF, ODT, DOCX = ("application/pdf", "application/vnd.oasis.opendocument.text",
                  "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
PNG, JPEG = "image/png", "image/jpeg"
LABELS = {PDF: "PDF", ODT: "ODT", DOCX: "DOCX", PNG: "PNG", JPEG: "JPEG"}
EXTENSIONS = {PDF: ".pdf", ODT: ".odt", DOCX: ".docx", PNG: ".png", JPEG: ".jpg"}
ACCEPTED = ", ".join(LABELS.values())


def sniff(data: bytes) -> str | None:
    """The media type the bytes are, among those accepted; None for anything else (the name
    and the browser's declared type are never trusted)."""
    if data.startswith(b"%PDF-"):
        return PDF
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
                if "mimetype" in names and archive.read("mimetype").strip() == ODT.encode():
                    return ODT
                if "[Content_Types].xml" in names and "word/document.xml" in names:
                    return DOCX
        except (zipfile.BadZipFile, KeyError, OSError, RuntimeError, NotImplementedError):
            return None
    return None


def clean_name(name: str | None, fallback: str = "document") -> str:
    """A file name as shown and offered for download: no path, no control characters."""
    base = posixpath.basename(str(name or "").replace("\\", "/")).strip()
    base = "".join(c for c in base if ord(c) >= 32 and c not in '"<>|:*?')[:200]
    return base or fallback


@dataclass
class Incoming:
    """A file checked and already in the store, waiting for its row."""
    name: str
    media_type: str
    size: int
    sha256: str


class DocumentStore:
    def __init__(self, root, max_bytes: int):
        self.root = Path(root)
        self.max_bytes = max_bytes

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFound("document introuvable")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def check(self, name: str, data: bytes) -> str:
        """The media type, or a French refusal naming the file."""
        if not data:
            raise InvalidInput(f"{name} : fichier vide", file=name)
        if len(data) > self.max_bytes:
            raise InvalidInput(f"{name} : fichier trop volumineux ({len(data) / 1_048_576:.1f} Mo ; "
                               f"{self.max_bytes / 1_048_576:g} Mo au plus)", file=name)
        media_type = sniff(data)
        if media_type is None:
            raise InvalidInput(f"{name} : type de fichier refusé (son contenu n'est ni {ACCEPTED} ; "
                               f"types acceptés : {ACCEPTED})", file=name)
        return media_type

    def put(self, name: str, data: bytes, media_type: str | None = None) -> Incoming:
        """Check then store; the same content is stored once."""
        name = clean_name(name)
        media_type = media_type or self.check(name, data)
        sha = hashlib.sha256(data).hexdigest()
        target = self.path(sha)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=".incoming-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, target)
            except BaseException:
                try:
                    os.unlink(temp)
                except OSError:
                    pass
                raise
        return Incoming(name=name, media_type=media_type, size=len(data), sha256=sha)

    def read(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise NotFound("document introuvable dans le dépôt de fichiers") from None


def for_settings(settings) -> DocumentStore:
    return DocumentStore(settings.documents_path(), int(settings.documents_max_mb * 1024 * 1024))
