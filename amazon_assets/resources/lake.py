"""The bronze lake: every API document exactly as received, on a local disk or in GCS.

Layout of one document (DESIGN.md):
`<lake_prefix>/run_date=YYYY-MM-DD/report_id=<id>/<file_name>` plus `_meta.json` beside it.
The sidecar is written last, so a document without a sidecar is an interrupted write and is
never read. Documents are never deleted: a re-fetch writes a new report id and loading picks
the newest one of each day by `fetched_at`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import dagster as dg

from amazon_assets.errors import PermanentError

if TYPE_CHECKING:
    from amazon_assets.settings import Settings

DEFAULT_FILE_NAME = "part-000.json.gz"
SIDECAR_NAME = "_meta.json"
STATUSES = ("DONE", "CANCELLED")
_TEMP_PREFIX = ".tmp-"


class Lake(Protocol):
    """Object storage addressed by '/'-separated keys."""

    def write_bytes(self, key: str, data: bytes, content_type: str) -> None: ...
    def read_bytes(self, key: str) -> bytes: ...
    def list_keys(self, prefix: str) -> list[str]: ...
    def exists(self, key: str) -> bool: ...
    def uri(self, key: str) -> str: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(
            f"Lake key must be a relative path without empty, '.' or '..' parts: {key!r}."
        )
    return key


class LocalLake:
    """A lake in a local directory; writes go to a temporary file that is then renamed.

    A write that fails removes its temporary file; one whose process was killed leaves it, and
    the next write to that folder or listing of it removes it (its writer's pid is in the name).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()

    def __repr__(self) -> str:
        return f"LocalLake({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).split("/"))

    def write_bytes(self, key: str, data: bytes, content_type: str) -> None:
        """Write atomically: readers see the old object or the new one, never half of one."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        for orphan in path.parent.glob(f"{_TEMP_PREFIX}*"):
            _remove_if_orphaned(orphan)
        # The writer's pid in the name tells a later process whether the file is still in use.
        handle, temp_name = tempfile.mkstemp(
            prefix=f"{_TEMP_PREFIX}{os.getpid()}-", dir=path.parent
        )
        try:
            with os.fdopen(handle, "wb") as temp:
                temp.write(data)
                temp.flush()
                os.fsync(temp.fileno())
            os.replace(temp_name, path)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise

    def read_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def list_keys(self, prefix: str) -> list[str]:
        """Every key starting with `prefix` (a plain string prefix, as in GCS), sorted."""
        *folders, start = prefix.split("/")
        directory = self.root.joinpath(*folders)
        if not directory.is_dir():
            return []
        keys = []
        # Only the entries the prefix's last part can start: not every sibling folder's tree.
        for child in directory.iterdir():
            if not child.name.startswith(start) and not child.name.startswith(_TEMP_PREFIX):
                continue
            for path in [child, *child.rglob("*")] if child.is_dir() else [child]:
                if path.name.startswith(_TEMP_PREFIX):
                    _remove_if_orphaned(path)  # never a document: at most a write in progress
                elif path.is_file():
                    keys.append(path.relative_to(self.root).as_posix())
        return sorted(key for key in keys if key.startswith(prefix))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def uri(self, key: str) -> str:
        return str(self._path(key))


def _remove_if_orphaned(temp: Path) -> None:
    """Delete a temporary file whose writer died (a killed process cannot clean up after itself)."""
    writer = temp.name[len(_TEMP_PREFIX) :].split("-", 1)[0]
    if writer.isdigit():
        try:
            os.kill(int(writer), 0)
            return  # its writer is still running
        except ProcessLookupError:
            pass
        except PermissionError:
            return  # a live process of another user
    temp.unlink(missing_ok=True)


class GcsLake:
    """A lake in a Google Cloud Storage bucket, under an optional key prefix."""

    def __init__(self, bucket: str, prefix: str = "", client: Any | None = None) -> None:
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self._client = client

    def __repr__(self) -> str:
        return f"GcsLake({self.bucket_name!r}, prefix={self.prefix!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = gcs_client()
        return self._client

    def _name(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _blob(self, key: str) -> Any:
        return self.client.bucket(self.bucket_name).blob(self._name(key))

    def write_bytes(self, key: str, data: bytes, content_type: str) -> None:
        # A single-request upload is atomic in GCS; no Content-Encoding, so gzip bodies are
        # stored and served byte for byte (no decompressive transcoding).
        with self._bucket_must_exist():
            self._blob(key).upload_from_string(data, content_type=content_type)

    def read_bytes(self, key: str) -> bytes:
        return self._blob(key).download_as_bytes(raw_download=True)

    def list_keys(self, prefix: str) -> list[str]:
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        skip = len(self.prefix) + 1 if self.prefix else 0
        with self._bucket_must_exist():
            blobs = self.client.list_blobs(self.bucket_name, prefix=full_prefix)
            return sorted(blob.name[skip:] for blob in blobs)

    @contextlib.contextmanager
    def _bucket_must_exist(self) -> Iterator[None]:
        """Uploads and listings answer 404 only when the bucket itself is missing."""
        from google.api_core.exceptions import NotFound

        try:
            yield
        except NotFound as error:
            raise PermanentError(
                f"The GCS bucket {self.bucket_name!r} (GCS_BUCKET) does not exist or this "
                "account cannot see it: create it, or fix GCS_BUCKET."
            ) from error

    def exists(self, key: str) -> bool:
        return self._blob(key).exists()

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket_name}/{self._name(key)}"


def gcs_client() -> Any:
    """A storage client; anonymous against an emulator (STORAGE_EMULATOR_HOST), else default credentials."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or "amazon-assets-emulator"
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client()


def lake_from_settings(settings: Settings) -> LocalLake | GcsLake:
    """GCS when GCS_BUCKET is set, else the local lake under AMAZON_ASSETS_HOME."""
    if settings.gcs_bucket:
        return GcsLake(settings.gcs_bucket)
    return LocalLake(settings.lake_root)


def _configured_lake(
    root: str | None, gcs_bucket: str | None, gcs_prefix: str
) -> LocalLake | GcsLake:
    if gcs_bucket:
        return GcsLake(gcs_bucket, gcs_prefix)
    if root:
        return LocalLake(root)
    raise ValueError("The lake needs either `root` (a local directory) or `gcs_bucket`.")


class LakeResource(dg.ConfigurableResource):
    """The bronze lake as a resource: a bronze step writes each document the moment it arrives
    (`amazon_assets.ingestion.bronze`) instead of returning them all at the end of the step."""

    root: str | None = None
    gcs_bucket: str | None = None
    gcs_prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeResource:
        """GCS when GCS_BUCKET is set, else the local lake under AMAZON_ASSETS_HOME."""
        if settings.gcs_bucket:
            return cls(gcs_bucket=settings.gcs_bucket)
        return cls(root=str(settings.lake_root))

    def lake(self) -> LocalLake | GcsLake:
        return _configured_lake(self.root, self.gcs_bucket, self.gcs_prefix)


@dataclass(frozen=True)
class BronzeDocument:
    """One API document for one day, exactly as received, with what we know about it."""

    source: str
    day: date
    report_id: str | None
    status: str
    body: bytes = field(repr=False)
    content_type: str
    fetched_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"BronzeDocument status must be DONE or CANCELLED; got {self.status!r}."
            )
        if self.status == "CANCELLED" and self.body:
            raise ValueError("A CANCELLED BronzeDocument has no body (Amazon had no data).")
        if self.fetched_at.tzinfo is None:
            raise ValueError("BronzeDocument.fetched_at must be timezone-aware (UTC).")
        object.__setattr__(self, "fetched_at", self.fetched_at.astimezone(UTC))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    def folder(self, lake_prefix: str) -> str:
        """The key prefix this document lives under."""
        report_id = self.report_id or f"none-{self.fetched_at:%Y%m%dT%H%M%S%fZ}"
        return f"{lake_prefix}/run_date={self.day.isoformat()}/report_id={report_id}"

    def sidecar(self, file_name: str) -> dict[str, Any]:
        return {
            "source": self.source,
            "day": self.day.isoformat(),
            "report_id": self.report_id,
            "status": self.status,
            "fetched_at": self.fetched_at.isoformat(),
            "content_type": self.content_type,
            "file_name": file_name if self.status == "DONE" else None,
            "sha256": self.sha256,
            "bytes": len(self.body),
            "metadata": dict(self.metadata),
        }


def write_document(
    lake: Lake, lake_prefix: str, document: BronzeDocument, file_name: str
) -> list[str]:
    """Write the body (when DONE) then its sidecar; returns the keys written."""
    folder = document.folder(lake_prefix)
    keys = []
    if document.status == "DONE":
        body_key = f"{folder}/{file_name}"
        lake.write_bytes(body_key, document.body, document.content_type)
        keys.append(body_key)
    sidecar_key = f"{folder}/{SIDECAR_NAME}"
    sidecar = json.dumps(document.sidecar(file_name), sort_keys=True).encode()
    lake.write_bytes(sidecar_key, sidecar, "application/json")
    keys.append(sidecar_key)
    return keys


def read_newest_document(lake: Lake, lake_prefix: str, day: date) -> BronzeDocument | None:
    """The newest document (by fetched_at) stored for `day`, or None when the lake has none."""
    day_prefix = f"{lake_prefix}/run_date={day.isoformat()}/"
    sidecar_keys = [key for key in lake.list_keys(day_prefix) if key.endswith(f"/{SIDECAR_NAME}")]
    if not sidecar_keys:
        return None
    sidecars = [(json.loads(lake.read_bytes(key)), key) for key in sidecar_keys]
    meta, sidecar_key = max(
        sidecars, key=lambda item: (datetime.fromisoformat(item[0]["fetched_at"]), item[1])
    )
    return read_document(lake, sidecar_key, meta)


def read_document(lake: Lake, sidecar_key: str, meta: Mapping[str, Any]) -> BronzeDocument:
    """The document a sidecar (already read as `meta`) describes, its body checked against it."""
    body = b""
    if meta["status"] == "DONE":
        body_key = f"{sidecar_key.rsplit('/', 1)[0]}/{meta['file_name']}"
        body = lake.read_bytes(body_key)
        if hashlib.sha256(body).hexdigest() != meta["sha256"]:
            raise ValueError(
                f"Lake object {lake.uri(body_key)} does not match the sha256 in its sidecar; "
                "it was changed after it was written: re-materialize that day."
            )
    return BronzeDocument(
        source=meta["source"],
        day=date.fromisoformat(meta["day"]),
        report_id=meta["report_id"],
        status=meta["status"],
        body=body,
        content_type=meta["content_type"],
        fetched_at=datetime.fromisoformat(meta["fetched_at"]),
        metadata=meta.get("metadata") or {},
    )


def _partition_day(partition_key: str) -> date:
    try:
        return date.fromisoformat(partition_key)
    except ValueError:
        raise ValueError(
            f"LakeIOManager stores daily partitions keyed YYYY-MM-DD; got partition key {partition_key!r}."
        ) from None


class LakeIOManager(dg.ConfigurableIOManager):
    """Stores `dict[partition_key, BronzeDocument]` outputs in the lake and loads the newest per day.

    The asset's definition metadata says where: `lake_prefix` (e.g. "amazon/reports/business/us",
    default: the asset key joined by '/') and `file_name` (default "part-000.json.gz").
    """

    root: str | None = None
    gcs_bucket: str | None = None
    gcs_prefix: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeIOManager:
        """GCS when GCS_BUCKET is set, else the local lake under AMAZON_ASSETS_HOME."""
        if settings.gcs_bucket:
            return cls(gcs_bucket=settings.gcs_bucket)
        return cls(root=str(settings.lake_root))

    def lake(self) -> LocalLake | GcsLake:
        return _configured_lake(self.root, self.gcs_bucket, self.gcs_prefix)

    @staticmethod
    def _layout(context: dg.OutputContext) -> tuple[str, str]:
        metadata = context.definition_metadata or {}
        prefix = str(metadata.get("lake_prefix") or "/".join(context.asset_key.path)).strip("/")
        return prefix, str(metadata.get("file_name") or DEFAULT_FILE_NAME)

    def handle_output(self, context: dg.OutputContext, obj: Mapping[str, BronzeDocument]) -> None:
        if not isinstance(obj, Mapping):
            raise TypeError(
                f"LakeIOManager stores dict[partition_key, BronzeDocument]; asset "
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}."
            )
        lake_prefix, file_name = self._layout(context)
        expected = set(context.asset_partition_keys) if context.has_asset_partitions else set()
        unexpected = sorted(set(obj) - expected)
        if unexpected:
            raise ValueError(
                f"Asset {context.asset_key.to_user_string()} returned documents for partitions "
                f"{unexpected} outside this run's partitions."
            )
        lake = self.lake()
        uris, total_bytes, cancelled = [], 0, 0
        for partition_key in sorted(obj):
            document = obj[partition_key]
            if document.day != _partition_day(partition_key):
                raise ValueError(
                    f"Document for partition {partition_key} says day {document.day.isoformat()}."
                )
            keys = write_document(lake, lake_prefix, document, file_name)
            uris.append(lake.uri(keys[0]))
            total_bytes += len(document.body)
            cancelled += document.status == "CANCELLED"
        missing = sorted(expected - set(obj))
        if missing:
            context.log.warning(
                f"No document for {len(missing)} partition(s): {', '.join(missing)}."
            )
        context.add_output_metadata(
            {
                "documents": len(obj),
                "cancelled": cancelled,
                "bytes": total_bytes,
                "uris": dg.MetadataValue.json(uris),
                "lake_prefix": dg.MetadataValue.path(lake.uri(lake_prefix)),
            }
        )

    def load_input(self, context: dg.InputContext) -> dict[str, BronzeDocument]:
        if context.upstream_output is None or not context.has_asset_partitions:
            raise ValueError("LakeIOManager loads partitioned bronze assets only.")
        lake_prefix, _ = self._layout(context.upstream_output)
        lake = self.lake()
        documents = {}
        for partition_key in context.asset_partition_keys:
            document = read_newest_document(lake, lake_prefix, _partition_day(partition_key))
            if document is not None:
                documents[partition_key] = document
        return documents
