"""deploy/nginx/amazon-assets.conf with Debian's nginx on loopback in front of the running API:
micro-cache per token (MISS then HIT), no cache for other Authorization headers, health and
metrics passed straight through, limit_req answering 429."""

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from amazon_assets_tests.api.conftest import bearer
from amazon_assets_tests.api.market import ACME
from amazon_assets_tests.api.server import free_port

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "amazon-assets.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="Debian's nginx is not installed (apt-get install nginx)"
)


def render(directory: Path, upstream: str, port: int, rate: str, burst: int) -> Path:
    """The repository's config pointed at this test's API, port and cache directory."""
    text = CONFIG.read_text()
    for old, new in (
        ("server 127.0.0.1:8000;", f"server {upstream};"),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("/var/cache/nginx/amazon-assets", str(directory / "cache")),
        ("rate=50r/s", f"rate={rate}"),
        ("burst=100", f"burst={burst}"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    site = directory / "amazon-assets.conf"
    site.write_text(text)
    main = directory / "nginx.conf"
    temp = {name: directory / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main.write_text(
        f"""
daemon off;
user root;
worker_processes 1;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {directory / "access.log"};
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    include {site};
}}
"""
    )
    return main


@pytest.fixture
def nginx(pg_api, tmp_path: Path):
    port = free_port()
    # One request a minute and a burst of 30: the flood below is refused however slowly it runs.
    main = render(tmp_path, f"127.0.0.1:{pg_api.port}", port, "1r/m", 30)
    check = subprocess.run([NGINX, "-t", "-c", str(main)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(
        [NGINX, "-c", str(main)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/health", timeout=2)
            break
        except httpx.TransportError:
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    yield url
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def test_nginx_micro_cache_and_limits(nginx, token) -> None:
    mine, theirs = token("viewer", "acme"), token("viewer", "acme")
    path = f"{nginx}/v1/products/{ACME[0]}"
    first = httpx.get(path, headers=bearer(mine), timeout=30)
    second = httpx.get(path, headers=bearer(mine), timeout=30)
    assert first.status_code == 200
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT" and second.content == first.content
    # Keyed by the token: another caller's request is not served this one's answer.
    assert httpx.get(path, headers=bearer(theirs), timeout=30).headers["x-cache-status"] == "MISS"
    basic = {"Authorization": "Basic dXNlcjpwYXNz"}
    for _ in range(2):
        refused = httpx.get(path, headers=basic, timeout=30)
        assert refused.status_code == 401 and refused.headers["x-cache-status"] == "BYPASS"
    # Health and metrics go straight through, uncached.
    health = httpx.get(f"{nginx}/health", timeout=30)
    assert health.status_code == 200 and "x-cache-status" not in health.headers
    assert "http_requests_total" in httpx.get(f"{nginx}/metrics", timeout=30).text
    # limit_req: past the burst, 429 from Nginx before the API.
    statuses = [httpx.get(path, headers=bearer(mine), timeout=30).status_code for _ in range(40)]
    assert 429 in statuses
