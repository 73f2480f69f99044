"""The deployment guide's files, exercised (issue 17): deploy/nginx.conf runs in Debian's
nginx in front of the real service on loopback, with TLS (a self-signed certificate made
here), and the web chat's WebSocket and the Telegram webhook work through it; the systemd
unit deploy/aftersales.service is validated and its ExecStart is run and stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.app import Service
from tests.telegram_server import FakeBotAPI
from tests.telegram_support import free_port, settings
from tests.test_security_telegram import update

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SECRET = "webhook-secret-shared-by-every-worker-0123"


def need(program: str, what: str) -> None:
    """Skip where `program` is missing; under CI=true that is a failure (scripts/test.sh installs it)."""
    if os.path.exists(program) and os.access(program, os.X_OK):
        return
    reason = f"{what} not found at {program} (apt-get install {what})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; it is required under CI=true")
    pytest.skip(reason)


def self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def site_config(upstream_port: int, http_port: int, https_port: int, cert: Path, key: Path) -> str:
    """deploy/nginx.conf with the test's ports and certificate (the lines marked EDIT, and
    the ports), IPv4 only: everything else runs as shipped."""
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = [
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n"),
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n"),
        ("/etc/letsencrypt/live/chat.example.com/fullchain.pem", str(cert)),
        ("/etc/letsencrypt/live/chat.example.com/privkey.pem", str(key)),
    ]
    for old, new in replacements:
        assert old in text, f"deploy/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    return re.sub(r"\n\s*listen \[::\]:\d+[^\n]*", "", text)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as server:
        yield server


@pytest.fixture
def ports() -> dict[str, int]:
    return {"http": free_port(), "https": free_port()}


@pytest.fixture
async def service(db_url: str, engine: Any, api: FakeBotAPI, ports: dict[str, int]) -> AsyncIterator[Service]:
    public = f"https://127.0.0.1:{ports['https']}"
    running = Service(settings(
        db_url, api, public_url=public, trusted_proxies="127.0.0.1", webhook_url=f"{public}/telegram/webhook",
        webhook_secret=SECRET, metrics_token="a-token-the-proxy-must-not-let-through",
    ))
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def nginx(service: Service, ports: dict[str, int], tmp_path: Path) -> Iterator[Path]:
    need(NGINX, "nginx")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    cert, key = self_signed(prefix)
    (prefix / "aftersales.conf").write_text(site_config(service.port, ports["http"], ports["https"], cert, key))
    temp = " ".join(f"{kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (prefix / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        f"events {{ worker_connections 64; }}\n"
        f"http {{\n  access_log {prefix / 'access.log'};\n  {temp}\n  include {prefix / 'aftersales.conf'};\n}}\n"
    )
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(200):  # until it listens
            if process.poll() is not None:
                raise AssertionError(f"nginx stopped: {process.stderr.read().decode() if process.stderr else ''}")
            try:
                with socket.create_connection(("127.0.0.1", ports["https"]), timeout=0.1):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("nginx did not listen")
        yield cert
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


async def test_the_web_chat_socket_and_the_webhook_work_through_the_nginx_snippet(
    service: Service, nginx: Path, api: FakeBotAPI, ports: dict[str, int],
) -> None:
    base = f"https://127.0.0.1:{ports['https']}"
    tls = ssl.create_default_context(cafile=str(nginx))
    connector = aiohttp.TCPConnector(ssl=tls)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(base + "/", headers={"Accept-Language": "en"}) as page:
            assert page.status == 200
            assert "Strict-Transport-Security" in page.headers  # the service knows it is served over https
            assert "Secure" in page.headers.get("Set-Cookie", "")
        # The browser's socket, through the proxy: Upgrade passed on, the origin is the public one.
        async with http.ws_connect(base.replace("https", "wss") + "/ws", headers={"Origin": base}) as ws:
            hello = await ws.receive_json(timeout=10)
            assert hello["type"] == "hello"
            await ws.send_json({"type": "text", "text": "/start", "id": "through-nginx"})
            seen: set[str] = set()
            while not {"ack", "reply"} <= seen:  # (typing frames come first: the widget's indicator)
                seen.add((await ws.receive_json(timeout=10))["type"])
        # Another site's page may not open it (the origin check sees through the proxy).
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await http.ws_connect(base.replace("https", "wss") + "/ws", headers={"Origin": "https://evil.example"})

        # Telegram's webhook through the proxy: the secret checked, the update answered.
        webhook = base + "/telegram/webhook"
        async with http.post(webhook, json=update(9001, 4242, "/start")) as refused:
            assert refused.status == 401
        async with http.post(webhook, json=update(9002, 4242, "/start"),
                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as accepted:
            assert accepted.status == 200
        await api.wait_until(lambda: bool(api.sent_to(4242)), timeout=10)

        async with http.get(base + "/metrics", headers={"Authorization": "Bearer a-token-the-proxy-must-not-let-through"}) as m:
            assert m.status == 404  # not exposed to the internet by the snippet
        async with http.get(base + "/healthz") as health:
            assert health.status == 200, await health.text()
    async with aiohttp.ClientSession() as plain, plain.get(f"http://127.0.0.1:{ports['http']}/x", allow_redirects=False) as r:
        assert r.status == 301 and r.headers["Location"].startswith("https://")


# --- systemd --------------------------------------------------------------------------------

UNIT = ROOT / "deploy" / "aftersales.service"


def installed_unit(directory: Path) -> Path:
    """The unit as installed from this checkout: /opt/aftersales is here (its .venv included)."""
    unit = directory / "aftersales.service"
    unit.write_text(UNIT.read_text().replace("/opt/aftersales", str(ROOT)))
    return unit


def unit_value(unit: Path, key: str) -> str:
    values = [line.split("=", 1)[1].strip() for line in unit.read_text().splitlines() if line.startswith(key + "=")]
    assert len(values) == 1, f"{key} in {unit.name}: {values}"
    return values[0]


def test_the_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    unit = installed_unit(tmp_path)
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True,
                            env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    # verify exits 0 even for a misspelt key ("Unknown key ..., ignoring"): nothing may be said.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert unit_value(unit, "KillSignal") == "SIGTERM"


async def test_the_units_exec_start_runs_the_service_and_sigterm_stops_it_cleanly(tmp_path: Path) -> None:
    """ExecStart as systemd runs it (WorkingDirectory, settings from the environment file),
    then KillSignal: a clean exit 0 within TimeoutStopSec, the stop logged."""
    unit = installed_unit(tmp_path)
    command = shlex.split(unit_value(unit, "ExecStart"))
    assert command[1:] == ["run"] and Path(command[0]).exists()
    port = free_port()
    environment = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME")},
        "DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}", "PORT": str(port), "LOG_FORMAT": "json",
        "MEDIA_DIR": str(tmp_path / "media"), "PYTHONDONTWRITEBYTECODE": "1",
    }
    check = subprocess.run(shlex.split(unit_value(unit, "ExecStartPre")), cwd=unit_value(unit, "WorkingDirectory"),
                           env=environment, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    log = tmp_path / "journal.log"
    with log.open("wb") as journal:
        process = subprocess.Popen(command, cwd=unit_value(unit, "WorkingDirectory"), env=environment,
                                   stdout=journal, stderr=subprocess.STDOUT)
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                assert process.poll() is None, log.read_text()
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as health:
                        if health.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(log.read_text())
        process.send_signal(getattr(signal, unit_value(unit, "KillSignal")))
        timeout = float(unit_value(unit, "TimeoutStopSec").rstrip("s"))
        code = await asyncio.to_thread(process.wait, timeout)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 0, log.read_text()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert [e["message"] for e in events][-2:] == ["stopping", "stopped"], log.read_text()
