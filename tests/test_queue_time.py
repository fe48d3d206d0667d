"""Queue time is seen: the latency the line reports (ivr_webhook_seconds, the JSON log line's "ms")
starts when the platform's router received the request, when it says so in X-Request-Start; and
a worker that gunicorn kills for its timeout is counted."""
import json
import os
import re
import signal
import time

import pytest
from prometheus_client import REGISTRY

from ivr import create_app
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


@pytest.mark.parametrize("header", [
    lambda now: f"t={now - 3.2:.3f}",  # nginx: proxy_set_header X-Request-Start "t=${msec}";
    lambda now: str(int((now - 3.2) * 1000)),  # Heroku's router: milliseconds
    lambda now: f"t={int((now - 3.2) * 1_000_000)}",  # microseconds (Apache's mod_headers %t)
])
def test_time_waiting_in_front_of_the_app_is_part_of_the_webhook_latency(client, capsys, header):
    before = incoming_latencies()
    response = signed_post(client, "/voice", twilio_params(), headers={"X-Request-Start": header(time.time())})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] >= 3200
    after = incoming_latencies()
    assert after[0] - before[0] == 1 and after[1] - before[1] == 0  # observed above 2.5 s


@pytest.mark.parametrize("value", ["", "t=soon", "t=0", str(int((time.time() + 7200) * 1000))])
def test_a_missing_or_impossible_start_time_adds_nothing(client, capsys, value):
    response = signed_post(client, "/voice", twilio_params(), headers={"X-Request-Start": value})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] < 1000


def test_without_a_proxy_in_front_the_header_is_not_believed(capsys):
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "TRUSTED_PROXIES": "0"})
    response = signed_post(app.test_client(), "/voice", twilio_params(), url="http://line.example.org/voice",
                           base_url="http://line.example.org",
                           headers={"X-Request-Start": f"t={time.time() - 5:.3f}"})
    assert response.status_code == 200
    assert last_log_line(capsys)["ms"] < 1000


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
