"""Settings read from the environment, with the embedded SQLite default."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

DEFAULT_INSTANCE_DIR = Path(os.environ.get("ARSFLOW_INSTANCE_DIR", "instance"))


def default_database_url() -> str:
    url = os.environ.get("ARSFLOW_DATABASE_URL")
    if url:
        return url
    DEFAULT_INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DEFAULT_INSTANCE_DIR / 'arsflow.db').resolve()}"


@dataclass
class Settings:
    database_url: str = field(default_factory=default_database_url)
    # The ARS's own territory and zone: dates are shown and computed there.
    territory: str = field(default_factory=lambda: os.environ.get("ARSFLOW_TERRITORY", "75"))
    timezone: str = field(default_factory=lambda: os.environ.get("ARSFLOW_TIMEZONE", "Europe/Paris"))
    deployers_group: str = field(default_factory=lambda: os.environ.get("ARSFLOW_DEPLOYERS_GROUP", "deployers"))
    managers_group: str = field(default_factory=lambda: os.environ.get("ARSFLOW_MANAGERS_GROUP", "managers"))
    # Accounts of external-task workers (Camunda REST fetchAndLock/complete).
    workers_group: str = field(default_factory=lambda: os.environ.get("ARSFLOW_WORKERS_GROUP", "workers"))
    # Bounds of one script or expression evaluation (0 = none): past them, an incident.
    script_timeout: float = field(default_factory=lambda: float(os.environ.get("ARSFLOW_SCRIPT_TIMEOUT", "5")))
    script_memory_mb: int = field(default_factory=lambda: int(os.environ.get("ARSFLOW_SCRIPT_MEMORY_MB", "512")))
    # Timer sweep shared by workers (engine.time.timer_claims): each claims this many due timers
    # per transaction and holds them for this many seconds (a dead worker's claim expires).
    timer_batch: int = field(default_factory=lambda: int(os.environ.get("ARSFLOW_TIMER_BATCH", "20")))
    timer_lease: float = field(default_factory=lambda: float(os.environ.get("ARSFLOW_TIMER_LEASE", "300")))
    # Hard address-space cap of `serve` and `worker` processes, in MB (unset: none).
    memory_limit_mb: int | None = field(
        default_factory=lambda: int(os.environ["ARSFLOW_MEMORY_LIMIT_MB"]) if os.environ.get("ARSFLOW_MEMORY_LIMIT_MB") else None)
    # Members see the user tasks that name nobody (no assignee, candidate user or group) and
    # assign them; without them such a task could never be acted on.
    admins_group: str = field(default_factory=lambda: os.environ.get("ARSFLOW_ADMINS_GROUP", "admins"))

    # Where documents (attachments, generated letters) are kept, by SHA-256 (engine.documents);
    # unset: beside the SQLite file, else instance/documents.
    documents_dir: str | None = field(default_factory=lambda: os.environ.get("ARSFLOW_DOCUMENTS_DIR") or None)
    # Largest document accepted (upload, portal filing), in MB.
    documents_max_mb: float = field(default_factory=lambda: float(os.environ.get("ARSFLOW_DOCUMENTS_MAX_MB", "20")))
    # Signs the correspondents' portal links (itsdangerous); the web app's secret when it has one.
    secret_key: str | None = field(default_factory=lambda: os.environ.get("ARSFLOW_SECRET_KEY") or None)

    def documents_path(self) -> Path:
        if self.documents_dir:
            return Path(self.documents_dir)
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            return Path(self.database_url[len("sqlite:///"):]).parent / "documents"
        return DEFAULT_INSTANCE_DIR / "documents"

    @property
    def tzinfo(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
