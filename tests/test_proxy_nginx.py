"""deploy/nginx-helpline.conf, run by Debian's nginx in front of the line under the Procfile's
command, with a certificate made here: what Twilio's requests meet in production.

nginx is required, not skipped when missing: a skipped test reads as a pass in `make test`, and this
is the one test of the file operators copy to their servers (.ci/run installs nginx)."""
from __future__ import annotations

import asyncio
import http.client
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from ivr import ROOT
from ivr.testers.phone import twilio_params
from real_line import METRICS_TOKEN, TOKEN, RealLine, free_port

SITE = ROOT / "deploy" / "nginx-helpline.conf"
HOST = "line.example.org"  # the host the shipped file names, kept: the test's clients send it
PUBLIC_URL = f"https://{HOST}"


def nginx() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.fail("nginx is not installed: install Debian's package (apt-get install nginx), as .ci/run does, "
                    "to test deploy/nginx-helpline.conf", pytrace=False)
    return found


def certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for line.example.org, made with the openssl command nginx needs anyway."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=30)
    return cert, key


def site_config(https_port: int, http_port: int, line_port: int, cert: Path, key: Path) -> str:
    """The shipped file, with only its addresses and certificate paths changed for this machine."""
    text = SITE.read_text()
    for old, new in {"listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;", "listen [::]:443 ssl;": "",
                     "listen 80;": f"listen 127.0.0.1:{http_port};", "listen [::]:80;": "",
                     f"/etc/letsencrypt/live/{HOST}/fullchain.pem": str(cert),
                     f"/etc/letsencrypt/live/{HOST}/privkey.pem": str(key),
                     "server 127.0.0.1:8000;": f"server 127.0.0.1:{line_port};"}.items():
        assert text.count(old) == 1, f"{SITE.name} no longer has {old!r} once: update this test with it"
        text = text.replace(old, new)
    return text


class Proxy:
    """nginx, not a daemon, with its own prefix, pid, logs and temporary folders under `folder`."""

    def __init__(self, folder: Path, line_port: int):
        folder.mkdir()
        self.folder = folder
        self.https_port, self.http_port = free_port(), free_port()
        cert, key = certificate(folder)
        self.context = ssl.create_default_context(cafile=str(cert))  # verifies line.example.org, as Twilio does
        (folder / "helpline.conf").write_text(site_config(self.https_port, self.http_port, line_port, cert, key))
        temp = " ".join(f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi",
                                                                           "uwsgi", "scgi"))
        # As root, nginx's workers would otherwise become "nobody", who cannot read pytest's folders.
        user = "user root;" if os.geteuid() == 0 else ""
        (folder / "nginx.conf").write_text(
            f"{user}\ndaemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} warn;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n{temp}\ninclude {folder / 'helpline.conf'};\n}}\n")
        command = [nginx(), "-p", str(folder), "-c", str(folder / "nginx.conf"), "-e", str(folder / "error.log")]
        checked = subprocess.run(command + ["-t"], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, checked.stderr
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.https_port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("nginx did not start:\n" + self.log())
                time.sleep(0.05)

    def log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def connection(self, timeout: float = 10) -> http.client.HTTPSConnection:
        return _ToProxy(self.https_port, self.context, timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                tls: bool = True) -> tuple[int, str, dict]:
        if tls:
            connection = self.connection()
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            connection.request(method, path, body=body, headers={"Host": HOST, **(headers or {})})
            response = connection.getresponse()
            return response.status, response.read().decode(), dict(response.getheaders())
        finally:
            connection.close()

    def webhook(self, path: str, params: dict, signed_for: str = PUBLIC_URL, host: str = HOST,
                headers: dict | None = None, tls: bool = True) -> tuple[int, str, dict]:
        """A webhook as Twilio sends it: signed for `signed_for` + path, with `host` as its Host."""
        body = urllib.parse.urlencode(params).encode()
        signature = RequestValidator(TOKEN).compute_signature(signed_for + path, params)
        return self.request("POST", path, body, {"Host": host, "X-Twilio-Signature": signature,
                                                 "Content-Type": "application/x-www-form-urlencoded",
                                                 **(headers or {})}, tls=tls)

    def metrics(self) -> dict:
        status, text, _ = self.request("GET", "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert status == 200, text
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text) for sample in family.samples}


class _ToProxy(http.client.HTTPSConnection):
    """HTTPS to nginx on 127.0.0.1, for line.example.org (SNI and the certificate's name)."""

    def __init__(self, port: int, context: ssl.SSLContext, timeout: float):
        super().__init__(HOST, port, context=context, timeout=timeout)

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=HOST)


def shipped_settings() -> dict:
    """The settings deploy/helpline.env gives (those it leaves empty, the token, are RealLine's)."""
    settings = {}
    for line in (ROOT / "deploy" / "helpline.env").read_text().splitlines():
        name, _, value = line.partition("=")
        if value.strip() and not line.startswith("#"):
            settings[name.strip()] = value.strip()
    assert settings["IVR_PUBLIC_URL"] == PUBLIC_URL and settings["IVR_PROXY_SETS_REQUEST_START"] == "1", settings
    return settings


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """The line configured as deploy/helpline.env says, and nginx in front of it."""
    folder = tmp_path_factory.mktemp("proxied")
    nginx()  # before starting anything: says to install it
    line = RealLine(folder, env=shipped_settings())
    try:
        proxy = Proxy(folder / "nginx", line.port)
    except BaseException:
        line.stop()
        raise
    proxy.line = line
    try:
        yield proxy
    finally:
        proxy.stop()
        line.stop()


def test_a_call_signed_for_the_public_https_url_is_answered_through_the_proxy(proxied):
    params = twilio_params()
    status, body, _ = proxied.webhook("/voice", params)
    assert status == 200, body
    gather = ET.fromstring(body).find(".//Gather")
    assert gather is not None, body
    # The next page, where the caller's key goes: its URL is the one Twilio will sign.
    action = urllib.parse.urljoin(PUBLIC_URL + "/", gather.get("action"))
    assert action.startswith(PUBLIC_URL + "/voice"), action
    path = action[len(PUBLIC_URL):]
    status, body, _ = proxied.webhook(path, {**params, "Digits": "1"})
    assert status == 200 and ET.fromstring(body).tag == "Response", body
    assert "Traceback" not in proxied.line.log()


@pytest.mark.parametrize("signed_for, host", [
    ("https://other-line.example.org", "other-line.example.org"),  # another line of the account, its own Host
    (f"https://{HOST}:8443", f"{HOST}:8443"),  # another port
    (f"http://{HOST}", HOST),  # another scheme, sent over https
])
def test_a_call_signed_for_another_host_port_or_scheme_is_refused(proxied, signed_for, host):
    status, _, _ = proxied.webhook("/voice", twilio_params(), signed_for=signed_for, host=host)
    assert status == 403


def test_plain_http_is_only_sent_to_https(proxied):
    status, _, headers = proxied.webhook("/voice", twilio_params(), signed_for=f"http://{HOST}", tls=False)
    assert status == 301 and headers["Location"] == f"{PUBLIC_URL}/voice"


def incoming(metrics: dict) -> tuple[float, float, float]:
    """(webhooks at /voice counted, of them within 1 s, the seconds they add up to)."""
    labels = (("step", "incoming"),)
    return (metrics.get(("ivr_webhook_seconds_count", labels), 0.0),
            metrics.get(("ivr_webhook_seconds_bucket", (("le", "1.0"), ("step", "incoming"))), 0.0),
            metrics.get(("ivr_webhook_seconds_sum", labels), 0.0))


def test_the_queue_time_nginx_sets_reaches_the_metrics(proxied):
    line = proxied.line
    time.sleep(1.2)  # the earlier tests' webhooks counted by both workers
    before = incoming(proxied.metrics())
    # A client's own X-Request-Start, thirty seconds ago, is replaced by nginx's: nothing waited.
    status, _, _ = proxied.webhook("/voice", twilio_params(), headers={"X-Request-Start": f"t={time.time() - 30:.3f}"})
    assert status == 200
    # Both workers stopped for 1.5 s: nginx has passed the webhook on, it waits for a worker.
    answered = {}
    workers = line.workers()
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    try:
        waiting = threading.Thread(target=lambda: answered.update(status=proxied.webhook("/voice", twilio_params())[0]))
        waiting.start()
        deadline = time.monotonic() + 10
        while connections_to(line.port) == 0 and time.monotonic() < deadline:  # nginx has passed it on
            time.sleep(0.01)
        time.sleep(1.5)
    finally:
        for pid in workers:
            os.kill(pid, signal.SIGCONT)
    waiting.join(10)
    assert answered.get("status") == 200
    time.sleep(2.5)  # each worker adds its counts to the metrics once a second
    after = incoming(proxied.metrics())
    over_a_second = (after[0] - after[1]) - (before[0] - before[1])
    # The one that waited: over a second, counted from nginx's time; the client's own was not believed.
    assert over_a_second == 1, (before, after)
    assert after[2] - before[2] >= 1.4
    ignored = sum(v for (name, _), v in proxied.metrics().items() if name == "ivr_request_start_ignored_total")
    assert ignored == 0  # nginx's t=${msec} is read as it is written


# -- slow clients ----------------------------------------------------------------------------------

SLOW_CLIENTS = 200


class SlowClients:
    """SLOW_CLIENTS connections to nginx over TLS, half of them sending a request's headers one
    byte every half second, the other half whole headers then a 2,000-byte body one byte every half
    second; each starts again when nginx drops it: an attacker keeping them all open."""

    def __init__(self, proxy: Proxy):
        self.proxy = proxy
        self.open = 0
        self.connected = 0
        self.held: list[float] = []  # how long each slow-headers connection nginx closed had been open
        self.bodies_dropped = 0
        self.loop = asyncio.new_event_loop()
        self.stopping = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._all(),), daemon=True)
        self.thread.start()

    async def _all(self):
        await asyncio.gather(*(self._one(slow_body=n % 2 == 1) for n in range(SLOW_CLIENTS)))

    async def _one(self, slow_body: bool):
        headers = (f"POST /voice HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                   "X-Twilio-Signature: " + "a" * 200 + "\r\n").encode()
        if slow_body:
            first, slowly = headers + b"Content-Length: 2000\r\n\r\n", b"a" * 2000
        else:
            first, slowly = b"", headers
        while not self.stopping.is_set():
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    "127.0.0.1", self.proxy.https_port, ssl=self.proxy.context, server_hostname=HOST), 10)
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.2)
                continue
            self.open += 1
            self.connected += 1
            opened = time.monotonic()

            async def send():
                writer.write(first)
                for byte in slowly:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.5)
            sending = asyncio.ensure_future(send())
            stop = asyncio.ensure_future(self.stopping.wait())
            closed = asyncio.ensure_future(reader.read(1024))
            try:
                done, _ = await asyncio.wait({sending, stop, closed}, return_when=asyncio.FIRST_COMPLETED)
                if closed in done:
                    if slow_body:
                        self.bodies_dropped += 1
                    else:
                        self.held.append(time.monotonic() - opened)
            except Exception:
                pass
            finally:
                self.open -= 1
                for task in (sending, stop, closed):
                    task.cancel()
                await asyncio.gather(sending, stop, closed, return_exceptions=True)
                writer.transport.abort()

    def stop(self):
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)
        self.loop.close()


def connections_to(port: int) -> int:
    """Open TCP connections whose server side is 127.0.0.1:`port` (from /proc/net/tcp)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[1].partition(":")[2], 16) == port:  # ESTABLISHED
            count += 1
    return count


def test_slow_clients_at_the_proxy_leave_signed_webhooks_answered_within_a_second(proxied):
    logged_before = len(proxied.line.output())
    attack = SlowClients(proxied)
    try:
        deadline = time.monotonic() + 20
        while attack.open < SLOW_CLIENTS and time.monotonic() < deadline:
            time.sleep(0.1)
        assert attack.open == SLOW_CLIENTS, f"only {attack.open} slow clients connected"
        seconds, open_during, at_the_line, started = [], [], [], time.monotonic()
        # Long enough for nginx to drop the first slow clients (5 s) and for them to come back.
        while len(seconds) < 60 or time.monotonic() - started < 8:
            open_during.append(attack.open)
            at_the_line.append(connections_to(proxied.line.port))
            sent = time.perf_counter()
            status, body, _ = proxied.webhook("/voice", twilio_params())
            seconds.append(time.perf_counter() - sent)
            assert status == 200, body
            time.sleep(0.05)
        held = list(attack.held)
    finally:
        attack.stop()
    seconds.sort()
    p99 = seconds[math.ceil(0.99 * len(seconds)) - 1]
    print(f"\n{SLOW_CLIENTS} slow clients at nginx: {len(seconds)} signed /voice through it, "
          f"p50 {seconds[len(seconds) // 2] * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {seconds[-1] * 1000:.1f} ms; "
          f"slow clients open {min(open_during)}-{max(open_during)} (median {sorted(open_during)[len(open_during) // 2]}), "
          f"{len(held)} slow-headers ones dropped by nginx after {min(held, default=0):.1f}-"
          f"{max(held, default=0):.1f} s, {attack.bodies_dropped} slow-body ones; "
          f"connections at gunicorn: at most {max(at_the_line)}")
    # The attack stayed in place while measured: nginx drops them all about 5 s after they connect,
    # and they come back together (their TLS handshakes are part of the attack).
    assert sorted(open_during)[len(open_during) // 2] >= SLOW_CLIENTS * 0.75, open_during
    assert p99 < 1.0, seconds
    # nginx's client_header_timeout (5 s) dropped them: none was held much longer.
    assert held and max(held) < 8, held
    # None of them reached the line: nginx passes on whole requests only (the signed webhook being
    # measured may be one connection there; nginx keeps none open to gunicorn).
    assert max(at_the_line) <= 2, at_the_line
    logged = proxied.line.output()[logged_before:]
    assert logged.count('"status":200') == len(seconds) and not re.search(r'"status":\s*4\d\d', logged), logged[-2000:]
