"""Queue time is seen: the latency the line reports (ivr_webhook_seconds, the JSON log line's "ms")
starts when the platform's router received the request, when it says so in X-Request-Start, read
only where the operator says a proxy sets it and only on signed webhooks (a value that cannot be a
wait is ignored and counted); and a worker that gunicorn kills for its timeout is counted."""
import json
import os
import re
import signal
import time

import pytest
from prometheus_client import REGISTRY

from ivr import ConfigError, create_app
from ivr.ops import metrics
from ivr.testers.phone import twilio_params
from line_settings import TOKEN
from test_webhook import signed_post


def incoming_latencies() -> tuple[float, float]:
    """(webhooks at /voice so far, of them answered within 2.5 s) in this process's metrics."""
    metrics.flush()
    count = REGISTRY.get_sample_value("ivr_webhook_seconds_count", {"step": "incoming"}) or 0.0
    fast = REGISTRY.get_sample_value("ivr_webhook_seconds_bucket", {"step": "incoming", "le": "2.5"}) or 0.0
    return count, fast


def last_log_line(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def behind_a_proxy(make_app):
    """A client of the line whose operator says the proxy in front sets X-Request-Start."""
    return make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "QUEUE_TIME": True}).test_client()


def ignored(reason: str) -> float:
    metrics.flush()
    return REGISTRY.get_sample_value("ivr_request_start_ignored_total", {"reason": reason}) or 0.0


def latency_sum() -> float:
    metrics.flush()
    return REGISTRY.get_sample_value("ivr_webhook_seconds_sum", {"step": "incoming"}) or 0.0


@pytest.mark.parametrize("header", [
    lambda now: f"t={now - 3.2:.3f}",  # nginx: proxy_set_header X-Request-Start "t=${msec}";
    lambda now: str(int((now - 3.2) * 1000)),  # Heroku's router: milliseconds
    lambda now: f"t={int((now - 3.2) * 1_000_000)}",  # microseconds (Apache's mod_headers %t)
])
def test_time_waiting_in_front_of_the_app_is_part_of_the_webhook_latency(behind_a_proxy, capsys, header):
    before = incoming_latencies()
    response = signed_post(behind_a_proxy, "/voice", twilio_params(), headers={"X-Request-Start": header(time.time())})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] >= 3200
    after = incoming_latencies()
    assert after[0] - before[0] == 1 and after[1] - before[1] == 0  # observed above 2.5 s


@pytest.mark.parametrize(("value", "reason"), [
    ("t=soon", "unreadable"), ("t=0", "unreadable"), ("t=nan", "unreadable"), ("t=-5", "unreadable"),
    (lambda now: str(int((now + 7200) * 1000)), "future"),  # two hours ahead
    (lambda now: f"t={now - 3500:.3f}", "too_long"),  # what the attack of issue 21 wrote: 3,500 s ago
    (lambda now: f"t={now - 61:.3f}", "too_long"),
])
def test_a_start_time_that_cannot_be_a_wait_is_ignored_and_counted(behind_a_proxy, capsys, value, reason):
    before = ignored(reason)
    header = value(time.time()) if callable(value) else value
    response = signed_post(behind_a_proxy, "/voice", twilio_params(), headers={"X-Request-Start": header})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] < 1000
    assert ignored(reason) - before == 1


@pytest.mark.parametrize("value", ["", lambda now: f"t={now + 0.3:.3f}"])  # none; clocks 0.3 s apart
def test_no_start_time_or_clocks_a_little_apart_add_nothing_and_are_not_counted(behind_a_proxy, capsys, value):
    before = [ignored(reason) for reason in ("unreadable", "future", "too_long")]
    header = value(time.time()) if callable(value) else value
    response = signed_post(behind_a_proxy, "/voice", twilio_params(), headers={"X-Request-Start": header})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] < 1000
    assert [ignored(reason) for reason in ("unreadable", "future", "too_long")] == before


def test_forged_requests_with_a_huge_start_time_leave_the_latency_untouched(behind_a_proxy):
    """Issue 21's attack: 200 unsigned requests, each saying it waited 3,500 s in front of the
    line, added 700,000 s to the histogram and pushed its p99 to +Inf. Refused (403), they are
    timed as what they cost the app, and their header is never read."""
    before_sum, before = latency_sum(), incoming_latencies()
    before_ignored = ignored("too_long")
    for _ in range(200):
        response = behind_a_proxy.post("/voice", data=twilio_params(), base_url="https://line.example.org",
                                       headers={"X-Request-Start": f"t={time.time() - 3500:.3f}",
                                                "X-Twilio-Signature": "forged"})
        assert response.status_code == 403
    after = incoming_latencies()
    assert after[0] - before[0] == 200 and after[1] - before[1] == 200  # all 200 observed under 2.5 s
    assert latency_sum() - before_sum < 20  # their own time, not 700,000 s
    assert ignored("too_long") == before_ignored  # never read, so not counted either


def test_by_default_the_header_is_not_believed(client, capsys):
    """Without IVR_PROXY_SETS_REQUEST_START=1 nobody said a proxy sets it: a client could."""
    response = signed_post(client, "/voice", twilio_params(), headers={"X-Request-Start": f"t={time.time() - 5:.3f}"})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] < 1000


def test_the_operator_declares_the_proxy_in_the_environment(monkeypatch, make_app, capsys):
    monkeypatch.setenv("IVR_PROXY_SETS_REQUEST_START", "1")
    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0})
    response = signed_post(app.test_client(), "/voice", twilio_params(),
                           headers={"X-Request-Start": f"t={time.time() - 5:.3f}"})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] >= 5000


def test_a_proxy_that_sets_the_header_but_no_proxy_in_front_is_refused_at_start(monkeypatch):
    monkeypatch.setenv("IVR_PROXY_SETS_REQUEST_START", "1")
    monkeypatch.setenv("IVR_TRUSTED_PROXIES", "0")
    with pytest.raises(ConfigError, match=r"^IVR_PROXY_SETS_REQUEST_START=1 says a proxy .* IVR_TRUSTED_PROXIES=0"):
        create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0})


def test_a_worker_killed_for_its_timeout_is_counted(tmp_path):
    from real_line import RealLine
    line = RealLine(tmp_path, "--timeout", "2")
    try:
        worker = line.workers()[0]
        os.kill(worker, signal.SIGSTOP)  # a worker stuck: it stops telling the master it is alive
        deadline = time.monotonic() + 10
        counted = None
        while time.monotonic() < deadline:
            status, text = line.metrics()
            found = re.search(r"^ivr_worker_timeouts_total (\S+)$", text, re.M)
            counted = float(found.group(1)) if found else None
            if status == 200 and counted:
                break
            time.sleep(0.2)
        assert counted == 1.0, (status, text, sorted(os.listdir(line.metrics_folder)), line.log()[-2000:])
        assert "WORKER TIMEOUT (pid:%d)" % worker in line.log()
        assert worker not in line.workers() and len(line.workers()) == 2  # replaced
        time.sleep(1.0)  # the new worker finishes booting before it is asked to stop
    finally:
        line.stop()
