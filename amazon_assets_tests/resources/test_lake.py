"""The bronze lake: local and GCS (emulator) storage, and the IO manager driven by Dagster."""

import gzip
import json
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from amazon_assets.resources.lake import (
    BronzeDocument,
    GcsLake,
    LakeIOManager,
    LocalLake,
    lake_from_settings,
    read_newest_document,
    write_document,
)
from amazon_assets.settings import Settings

PREFIX = "amazon/reports/business/us"
DAYS = dg.DailyPartitionsDefinition(start_date="2026-01-01", end_date="2026-01-11")
METADATA = {"lake_prefix": PREFIX, "file_name": "part-000.json.gz"}
FETCHED = datetime(2026, 1, 12, 8, 0, tzinfo=UTC)


def _document(
    day: str, report_id: str, *, rows: int = 1, fetched_at: datetime = FETCHED, status: str = "DONE"
) -> BronzeDocument:
    payload = {"reportSpecification": {"dataStartTime": day}, "salesAndTrafficByAsin": [{}] * rows}
    return BronzeDocument(
        source="business_reports",
        day=date.fromisoformat(day),
        report_id=report_id,
        status=status,
        body=gzip.compress(json.dumps(payload).encode()) if status == "DONE" else b"",
        content_type="application/gzip",
        fetched_at=fetched_at,
        metadata={"requests": 3, "source_label": "sandbox"},
    )


def _assets(documents: dict[str, BronzeDocument]) -> tuple[dg.AssetsDefinition, ...]:
    """A bronze asset that returns the given documents for its run's partitions, and readers."""

    @dg.asset(
        key=["bronze", "business_reports"],
        partitions_def=DAYS,
        io_manager_key="lake",
        metadata=METADATA,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def bronze(context: dg.AssetExecutionContext) -> dict[str, BronzeDocument]:
        return {key: documents[key] for key in context.partition_keys if key in documents}

    @dg.asset(
        partitions_def=DAYS,
        ins={"docs": dg.AssetIn(key=bronze.key)},
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def per_day(docs: dict[str, BronzeDocument]) -> dict[str, BronzeDocument]:
        return docs

    @dg.asset(ins={"docs": dg.AssetIn(key=bronze.key)})
    def everything(docs: dict[str, BronzeDocument]) -> dict[str, BronzeDocument]:
        return docs

    return bronze, per_day, everything


def _range_tags(start: str, end: str) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


def test_local_lake_round_trip(tmp_path: Path) -> None:
    lake = LocalLake(tmp_path / "lake")
    lake.write_bytes("a/b/run_date=2026-01-05/x.gz", b"\x1f\x8bone", "application/gzip")
    lake.write_bytes("a/b/run_date=2026-01-06/x.gz", b"two", "application/gzip")
    lake.write_bytes("a/b/run_date=2026-01-05/x.gz", b"three", "application/gzip")

    assert lake.read_bytes("a/b/run_date=2026-01-05/x.gz") == b"three"
    assert lake.list_keys("a/b/run_date=2026-01-0") == [
        "a/b/run_date=2026-01-05/x.gz",
        "a/b/run_date=2026-01-06/x.gz",
    ]
    assert lake.list_keys("a/b/run_date=2026-01-05/") == ["a/b/run_date=2026-01-05/x.gz"]
    assert lake.list_keys("nothing/") == []
    assert lake.exists("a/b/run_date=2026-01-06/x.gz")
    assert not lake.exists("a/b/run_date=2026-01-07/x.gz")
    assert lake.uri("a/b/run_date=2026-01-06/x.gz") == str(
        (tmp_path / "lake/a/b/run_date=2026-01-06/x.gz").resolve()
    )
    # Atomic writes leave no temporary files behind.
    assert sorted(p.name for p in (tmp_path / "lake/a/b/run_date=2026-01-05").iterdir()) == ["x.gz"]
    with pytest.raises(ValueError, match="relative path"):
        lake.write_bytes("../escape", b"", "text/plain")


def test_lake_from_settings_picks_gcs_only_with_a_bucket(amazon_home: Path) -> None:
    local = lake_from_settings(Settings.from_env())
    assert isinstance(local, LocalLake) and local.root == amazon_home.resolve() / "lake"
    gcs = lake_from_settings(
        Settings.from_env({"AMAZON_ASSETS_HOME": str(amazon_home), "GCS_BUCKET": "my-bucket"})
    )
    assert isinstance(gcs, GcsLake) and gcs.uri("a/b") == "gs://my-bucket/a/b"


def test_io_manager_writes_document_and_sidecar_and_loads_it(tmp_path: Path) -> None:
    documents = {"2026-01-05": _document("2026-01-05", "R1", rows=4)}
    bronze, per_day, _ = _assets(documents)
    resources = {"lake": LakeIOManager(root=str(tmp_path))}

    result = dg.materialize([bronze, per_day], partition_key="2026-01-05", resources=resources)

    folder = tmp_path / PREFIX / "run_date=2026-01-05" / "report_id=R1"
    assert (folder / "part-000.json.gz").read_bytes() == documents["2026-01-05"].body
    sidecar = json.loads((folder / "_meta.json").read_text())
    assert sidecar["report_id"] == "R1" and sidecar["status"] == "DONE"
    assert sidecar["bytes"] == len(documents["2026-01-05"].body)
    assert sidecar["sha256"] == documents["2026-01-05"].sha256
    assert sidecar["fetched_at"] == "2026-01-12T08:00:00+00:00"
    assert sidecar["metadata"] == {"requests": 3, "source_label": "sandbox"}
    assert result.output_for_node("per_day") == documents

    materialization = result.asset_materializations_for_node("bronze__business_reports")[0]
    assert materialization.metadata["documents"].value == 1
    assert materialization.metadata["uris"].value == [str(folder / "part-000.json.gz")]


def test_newest_document_wins_and_older_ones_stay(tmp_path: Path) -> None:
    resources = {"lake": LakeIOManager(root=str(tmp_path))}
    old = _document("2026-01-05", "R-old", rows=1, fetched_at=FETCHED)
    new = _document("2026-01-05", "R-new", rows=2, fetched_at=FETCHED + timedelta(days=2))
    # Write the newer one first: the order of writes must not decide, fetched_at does.
    for document in (new, old):
        bronze, per_day, _ = _assets({"2026-01-05": document})
        dg.materialize([bronze], partition_key="2026-01-05", resources=resources)

    bronze, per_day, _ = _assets({})
    result = dg.materialize(
        [per_day, bronze.to_source_asset()], partition_key="2026-01-05", resources=resources
    )

    assert result.output_for_node("per_day")["2026-01-05"] == new
    day = tmp_path / PREFIX / "run_date=2026-01-05"
    assert sorted(p.name for p in day.iterdir()) == ["report_id=R-new", "report_id=R-old"]


def test_cancelled_day_writes_only_the_sidecar(tmp_path: Path) -> None:
    cancelled = _document("2026-01-03", "R9", status="CANCELLED")
    bronze, per_day, _ = _assets({"2026-01-03": cancelled})
    result = dg.materialize(
        [bronze, per_day],
        partition_key="2026-01-03",
        resources={"lake": LakeIOManager(root=str(tmp_path))},
    )

    folder = tmp_path / PREFIX / "run_date=2026-01-03" / "report_id=R9"
    assert [p.name for p in folder.iterdir()] == ["_meta.json"]
    assert json.loads((folder / "_meta.json").read_text())["status"] == "CANCELLED"
    loaded = result.output_for_node("per_day")["2026-01-03"]
    assert loaded.status == "CANCELLED" and loaded.body == b"" and loaded.report_id == "R9"


def test_partition_range_is_written_and_loaded_in_one_run(tmp_path: Path) -> None:
    documents = {
        "2026-01-02": _document("2026-01-02", "A", rows=1),
        "2026-01-03": _document("2026-01-03", "B", status="CANCELLED"),
        "2026-01-04": _document("2026-01-04", "C", rows=3),
        # 2026-01-05 has no document at all.
    }
    bronze, per_day, everything = _assets(documents)
    # The readers' own outputs stay in memory: Dagster's pickle IO manager refuses ranges.
    resources = {"lake": LakeIOManager(root=str(tmp_path)), "io_manager": dg.mem_io_manager}

    result = dg.materialize(
        [bronze, per_day], resources=resources, tags=_range_tags("2026-01-02", "2026-01-05")
    )

    assert result.output_for_node("per_day") == documents
    written = LocalLake(tmp_path).list_keys(f"{PREFIX}/")
    assert len([key for key in written if key.endswith("part-000.json.gz")]) == 2
    assert len([key for key in written if key.endswith("_meta.json")]) == 3

    # An unpartitioned reader loads every partition; days with nothing in the lake are absent.
    loaded = dg.materialize([everything, bronze.to_source_asset()], resources=resources)
    assert loaded.output_for_node("everything") == documents


def test_tampered_document_is_refused(tmp_path: Path) -> None:
    bronze, per_day, _ = _assets({"2026-01-05": _document("2026-01-05", "R1")})
    resources = {"lake": LakeIOManager(root=str(tmp_path))}
    dg.materialize([bronze], partition_key="2026-01-05", resources=resources)
    body = tmp_path / PREFIX / "run_date=2026-01-05" / "report_id=R1" / "part-000.json.gz"
    body.write_bytes(b"changed")

    with pytest.raises(ValueError, match="does not match the sha256 in its sidecar"):
        dg.materialize(
            [per_day, bronze.to_source_asset()], partition_key="2026-01-05", resources=resources
        )


def test_gcs_lake_through_the_io_manager(gcs_emulator) -> None:
    document = _document("2026-01-05", "R77", rows=5)
    bronze, per_day, _ = _assets({"2026-01-05": document})
    resources = {"lake": LakeIOManager(gcs_bucket=gcs_emulator.bucket)}

    result = dg.materialize([bronze, per_day], partition_key="2026-01-05", resources=resources)

    bucket = gcs_emulator.client().bucket(gcs_emulator.bucket)
    key = f"{PREFIX}/run_date=2026-01-05/report_id=R77/part-000.json.gz"
    assert bucket.blob(key).download_as_bytes(raw_download=True) == document.body
    sidecar = json.loads(
        bucket.blob(f"{PREFIX}/run_date=2026-01-05/report_id=R77/_meta.json").download_as_bytes()
    )
    assert sidecar["sha256"] == document.sha256
    assert result.output_for_node("per_day") == {"2026-01-05": document}
    materialization = result.asset_materializations_for_node("bronze__business_reports")[0]
    assert materialization.metadata["uris"].value == [f"gs://{gcs_emulator.bucket}/{key}"]


def test_gcs_lake_prefix_listing_and_existence(gcs_emulator) -> None:
    lake = GcsLake(gcs_emulator.bucket, prefix="team/")
    lake.write_bytes("x/run_date=2026-01-05/a.gz", b"1", "application/gzip")
    lake.write_bytes("x/run_date=2026-01-06/a.gz", b"2", "application/gzip")

    assert lake.list_keys("x/run_date=2026-01-05/") == ["x/run_date=2026-01-05/a.gz"]
    assert lake.list_keys("x/") == ["x/run_date=2026-01-05/a.gz", "x/run_date=2026-01-06/a.gz"]
    assert lake.exists("x/run_date=2026-01-06/a.gz") and not lake.exists("x/missing.gz")
    assert lake.read_bytes("x/run_date=2026-01-06/a.gz") == b"2"
    assert lake.uri("x/a.gz") == f"gs://{gcs_emulator.bucket}/team/x/a.gz"
    names = [blob.name for blob in gcs_emulator.client().list_blobs(gcs_emulator.bucket)]
    assert sorted(names) == ["team/x/run_date=2026-01-05/a.gz", "team/x/run_date=2026-01-06/a.gz"]


# A write killed after its temporary file is written and before the rename: os.fsync (the
# step in between) tells the parent and waits to be killed.
_KILLED_MID_WRITE = """
import os, sys, time
from amazon_assets.resources.lake import LocalLake

def announce_and_wait(descriptor):
    print("writing", flush=True)
    time.sleep(600)

os.fsync = announce_and_wait
LocalLake(sys.argv[1]).write_bytes(sys.argv[2], b"half a document", "application/gzip")
"""


def test_a_killed_write_leaves_no_temporary_file_and_is_never_read(
    tmp_path: Path, processes
) -> None:
    lake = LocalLake(tmp_path / "lake")
    folder = f"{PREFIX}/run_date=2026-01-03/report_id=r1"
    writer = processes(
        [sys.executable, "-c", _KILLED_MID_WRITE, str(lake.root), f"{folder}/part-000.json.gz"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    directory = lake.root / folder
    [temp] = list(directory.iterdir())
    assert temp.name.startswith(f".tmp-{writer.pid}-")
    assert lake.list_keys(PREFIX) == []  # a write in progress is never listed, nor removed
    assert temp.exists()

    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    assert not lake.exists(f"{folder}/part-000.json.gz")
    assert read_newest_document(lake, PREFIX, date(2026, 1, 3)) is None
    assert list(directory.iterdir()) == []  # the listing removed the dead writer's file

    writer = processes(
        [sys.executable, "-c", _KILLED_MID_WRITE, str(lake.root), f"{folder}/part-000.json.gz"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=60) == -signal.SIGKILL
    write_document(lake, PREFIX, _document("2026-01-03", "r1"), "part-000.json.gz")
    assert sorted(path.name for path in directory.iterdir()) == ["_meta.json", "part-000.json.gz"]
    assert read_newest_document(lake, PREFIX, date(2026, 1, 3)).report_id == "r1"
