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
        from ivr.ops import metrics
        print(metrics.exposition()[0].decode())
    """, folder)
    for text in out.splitlines():
        if text.startswith('ivr_calls_started_total{language="fr"}'):
            return float(text.split()[-1])
    return 0.0


def test_a_worker_that_exits_normally_adds_its_last_counts(tmp_path):
    python("""
        from ivr.ops import metrics
        for _ in range(3):
            metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])
    """, tmp_path)
    assert calls_started(tmp_path) == 3


def test_a_busy_worker_adds_its_counts_within_a_second_or_two(tmp_path):
    worker = python("""
        import sys, time
        from ivr.ops import metrics
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])
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
        from ivr.ops import metrics
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])  # pending in the parent when it forks
        pid = os.fork()
        if pid == 0:
            metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])
            metrics.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        metrics.flush()
    """, tmp_path)
    assert calls_started(tmp_path) == 2


def test_latencies_added_at_a_flush_read_as_if_each_was_observed(tmp_path):
    """The flusher adds a second's latencies to the histogram's buckets at once; the exposition
    must be what observing each one would give, bucket edges included."""
    out = python("""
        import random
        from prometheus_client import CollectorRegistry, Histogram, generate_latest
        from ivr.ops import metrics
        registry = CollectorRegistry()
        # Another name: in multiprocess mode values of the same name would land in the same files.
        reference = Histogram("reference_seconds", "Time to answer a webhook", ["step"],
                              buckets=metrics.LATENCY_BUCKETS, registry=registry)
        rng = random.Random(3)
        values = list(metrics.LATENCY_BUCKETS) + [0.0, 11.0, 1e9] + [rng.uniform(0, 0.06) for _ in range(500)]
        for step, value in zip(["key", "node"] * len(values), values):
            metrics.observe_latency(value, step)
            reference.labels(step).observe(value)
        metrics.flush()

        def samples(text, name):
            return sorted(s.replace(name, "NAME") for s in text.decode().splitlines()
                          if s.startswith(name) and "_created" not in s)
        ours = samples(metrics.exposition()[0], "ivr_webhook_seconds")
        print(len(ours) == 2 * (len(metrics.LATENCY_BUCKETS) + 3) and ours == samples(metrics.exposition()[0], "reference_seconds"))
    """, tmp_path)
    assert out.strip() == "True"


def test_counts_wait_while_the_folder_cannot_be_written_and_arrive_after(tmp_path):
    """A file where the metrics folder was (or a full disk): the counts wait in memory, a warning
    says so, and they are written once the folder can be made again; none is counted twice."""
    folder = tmp_path / "metrics"
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(folder), PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-c", textwrap.dedent("""
        import os, shutil
        from ivr.ops import metrics
        folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])
        metrics.flush()
        shutil.rmtree(folder)
        open(folder, "w").close()
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))] * 2)
        metrics.flush()
        metrics.flush()
        os.unlink(folder)
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))])
    """)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("cannot write the metrics in") == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert calls_started(folder) == 3  # the first was in the files lost with the folder
