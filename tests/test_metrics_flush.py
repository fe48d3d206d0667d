"""Counts are added to the shared metric files by each worker's flusher, not on the request path:
they must still all arrive, once, whichever way a worker ends. Run in separate processes, as
gunicorn's workers are, with prometheus_client's multiprocess mode on."""
import os
import subprocess
import sys
import textwrap
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python(code, folder, wait=True):
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder), PYTHONPATH=ROOT)
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not wait:
        return process
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out


def calls_started(folder):
    """What /metrics would say, read by another process, as any worker answering a scrape does."""
    out = python("""
        from ivr import metrics
        print(metrics.exposition()[0].decode())
    """, folder)
    for text in out.splitlines():
        if text.startswith('ivr_calls_started_total{language="fr"}'):
            return float(text.split()[-1])
    return 0.0


def test_a_worker_that_exits_normally_adds_its_last_counts(tmp_path):
    python("""
        from ivr import metrics
        for _ in range(3):
            metrics.count(metrics.CALLS_STARTED, "fr")
    """, tmp_path)
    assert calls_started(tmp_path) == 3


def test_a_busy_worker_adds_its_counts_within_a_second_or_two(tmp_path):
    worker = python("""
        import sys, time
        from ivr import metrics
        metrics.count(metrics.CALLS_STARTED, "fr")
        metrics.count(metrics.CALLS_STARTED, "fr")
        print("counted", flush=True)
        time.sleep(60)  # still running: only its flusher thread can have written the counts
    """, tmp_path, wait=False)
    try:
        assert worker.stdout.readline().strip() == "counted"
        deadline = time.monotonic() + 10
        while calls_started(tmp_path) != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert calls_started(tmp_path) == 2
    finally:
        worker.kill()
        worker.wait()


def test_a_forked_worker_does_not_add_its_parents_counts_again(tmp_path):
    python("""
        import os
        from ivr import metrics
        metrics.count(metrics.CALLS_STARTED, "fr")  # pending in the parent when it forks
        pid = os.fork()
        if pid == 0:
            metrics.count(metrics.CALLS_STARTED, "fr")
            metrics.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        metrics.flush()
    """, tmp_path)
    assert calls_started(tmp_path) == 2
