"""How long a refused credential takes to end a command, as a user runs it.

Starts the sandbox in its own process (`amazon-assets sandbox`), points "real" SP-API and Ads API
credentials at it (so both clients run on Amazon's clock: every retry or quota wait would be real
time) and runs `amazon-assets ingest business-reports`, `ingest orders` (SP-API) and `ingest
ads-reports` (Ads API) against two refusals: Login with Amazon answering `invalid_grant`, and the
API answering 403 Unauthorized to every report creation. Prints each command's exit code, wall
time and what it printed; the goal is under 30 seconds with one sentence.

    python benchmarks/credential_refusal.py --port 23010
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from amazon_assets.settings import SANDBOX_CLIENT_ID, SANDBOX_CLIENT_SECRET

CASES = (
    ("business-reports", {"fault": "refuse_login", "error": "invalid_grant", "times": 50}),
    ("orders", {"fault": "refuse_login", "error": "invalid_grant", "times": 50}),
    ("business-reports", {"fault": "deny_next", "operation": "createReport", "times": 50}),
    ("orders", {"fault": "deny_next", "operation": "createReport", "times": 50}),
    ("ads-reports", {"fault": "refuse_login", "error": "invalid_grant", "times": 50}),
    ("ads-reports", {"fault": "deny_next", "operation": "adsCreateReport", "times": 50}),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766, help="the sandbox's port")
    args = parser.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    with tempfile.TemporaryDirectory(prefix="refusal-") as scratch:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SP_API_", "ADS_API_"))}
        env.pop("DAGSTER_HOME", None)
        credentials = {
            f"{prefix}_{name}": value
            for prefix in ("SP_API", "ADS_API")
            for name, value in (
                ("REFRESH_TOKEN", "Atzr|sandbox-default"),
                ("CLIENT_ID", SANDBOX_CLIENT_ID),
                ("CLIENT_SECRET", SANDBOX_CLIENT_SECRET),
                ("ENDPOINT", url),
                ("LWA_TOKEN_URL", f"{url}/auth/o2/token"),
            )
        }
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "amazon_assets.cli", "sandbox", "--port", str(args.port)],
            env={**env, "AMAZON_ASSETS_HOME": str(Path(scratch) / "sandbox")},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(url)
            for number, (command, fault) in enumerate(CASES):
                httpx.post(f"{url}/_sandbox/faults", json={"fault": "reset"}).raise_for_status()
                httpx.post(f"{url}/_sandbox/faults", json=fault).raise_for_status()
                home = Path(scratch) / f"home-{number}"
                started = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-m", "amazon_assets.cli", "ingest", command, "--days", "1"],
                    env={**env, **credentials, "AMAZON_ASSETS_HOME": str(home)},
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                seconds = time.monotonic() - started
                lines = [line for line in done.stderr.splitlines() if line.strip()]
                said = fault.get("error") or f"403 on {fault['operation']}"
                print(
                    f"ingest {command:<16} {said:<24} exit {done.returncode}  {seconds:5.1f} s  "
                    f"{len(lines)} line(s) on stderr"
                )
                print(f"    {lines[-1] if lines else '(nothing)'}")
        finally:
            sandbox.terminate()
            try:
                sandbox.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sandbox.kill()
                sandbox.wait()
    return 0


def _wait_for(url: str, deadline_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/_sandbox/stats", timeout=1.0).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the sandbox did not answer at {url} within {deadline_seconds:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
