"""Folders that vanish: every webhook after the metrics folder is lost is counted and /metrics never answers 500; a
recording folder that cannot be written is logged at most once a minute, callers never notice, and
no empty file is left."""
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time

from ivr import ROOT, create_app
from ivr.testers.phone import TRANSFER_CALLER_ID, FlaskTransport, call
from line_settings import PUBLIC_URL, TOKEN


def webhooks_counted(text: str) -> float:
    return sum(float(v) for v in re.findall(r'^ivr_webhooks_total\{status="200",step="incoming"\} (\S+)$', text, re.M))


def files_lost(text: str) -> float:
    return sum(float(v) for v in re.findall(r"^ivr_metrics_files_lost_total (\S+)$", text, re.M))


def counted_soon(line, expected: int) -> float:
    deadline = time.monotonic() + 10  # each worker adds its counts within a second or two
    while webhooks_counted(line.metrics()[1]) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return webhooks_counted(line.metrics()[1])


def test_every_webhook_after_the_metrics_folder_is_lost_is_counted(tmp_path):
    """A /tmp cleaner under a running line, twice: the folder deleted, then deleted and made again
    at once. Counts from before are gone with their files, but every webhook after it is counted,
    a warning says so, and /metrics never answers 500."""
    from real_line import RealLine
    line = RealLine(tmp_path)
    try:
        for _ in range(4):
            assert line.post_voice()[0] == 200
        assert counted_soon(line, 4) == 4  # flushed: nothing from before is still waiting in a worker
        shutil.rmtree(line.metrics_folder)
        for _ in range(20):
            assert line.post_voice()[0] == 200
        assert counted_soon(line, 20) == 20  # all of them in the files: none left waiting to be added later
        shutil.rmtree(line.metrics_folder)
        line.metrics_folder.mkdir()
        for _ in range(20):
            assert line.post_voice()[0] == 200
        # A worker restarts too (max_requests, a crash, a timeout): the new one counts as well.
        old = line.workers()
        os.kill(old[0], signal.SIGTERM)
        deadline = time.monotonic() + 10
        while (old[0] in line.workers() or len(line.workers()) < 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        statuses = set()
        for _ in range(10):  # both workers answer scrapes
            statuses.add(line.metrics()[0])
            assert line.post_voice()[0] == 200
        assert statuses == {200}
        assert line.metrics_folder.is_dir()
        text = line.metrics()[1]
        assert counted_soon(line, 30) == 30, text
        assert files_lost(line.metrics()[1]) >= 1  # said in the metrics, for an alert
        assert "counting goes on in new files" in line.log()
        assert "Traceback" not in line.log()
    finally:
        line.stop()


def recording_app(folder):
    return create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "RECORD_DIR": str(folder),
                       "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID})


def test_a_lost_recording_folder_is_logged_once_and_callers_never_notice(tmp_path, caplog):
    folder = tmp_path / "recorded"
    app = recording_app(folder)
    client = app.test_client()
    call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1")
    assert any(folder.glob("call-*.yaml"))
    shutil.rmtree(folder)  # lost while serving
    caplog.clear()
    caplog.set_level(logging.WARNING, logger="ivr")
    for _ in range(3):
        c = call(FlaskTransport(client), PUBLIC_URL, TOKEN)  # raises on anything but good TwiML
        c.press("1")
    records = [r for r in caplog.records if r.name.startswith("ivr")]
    assert len(records) == 1, [r.getMessage() for r in records]
    assert "cannot write in" in records[0].getMessage() and records[0].exc_info is None
    assert not folder.exists()


SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    sys.path.insert(0, "tests")
    from line_settings import PUBLIC_URL, TOKEN
    from ivr import create_app
    from ivr.testers.phone import TRANSFER_CALLER_ID, FlaskTransport, call
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "RECORD_DIR": sys.argv[1],
                      "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID})
    client = app.test_client()
    call(FlaskTransport(client), PUBLIC_URL, TOKEN)  # the folder's key is written
    # The disk is full now, for every file of more than 100 bytes.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (100, resource.RLIM_INFINITY))
    for _ in range(3):
        call(FlaskTransport(client), PUBLIC_URL, TOKEN).press("1")
    print("answered")
""")


def test_a_full_disk_leaves_no_empty_or_half_file_and_is_logged_once(tmp_path):
    folder = tmp_path / "recorded"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "answered" in done.stdout, done.stderr
    assert done.stderr.count("cannot write in") == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    calls = sorted(folder.glob("call-*.yaml"))
    assert len(calls) == 1  # the first call's, written before the disk filled up
    assert all(p.stat().st_size > 0 for p in folder.iterdir())
    from ivr.testers.fixtures import load
    assert len(load(calls[0]).exchanges) == 1  # whole steps only: nothing half written after the first
    assert [p.name for p in folder.iterdir() if p.name.startswith(".key.")] == []
