"""Resident memory of one process that loads the line as a gunicorn master does before forking
its workers: import the app, build it (which loads and checks the menus), then `gc.collect()`.

    .venv/bin/python -m ivr.bench.memory               # the shipped menu
    .venv/bin/python -m ivr.bench.memory --big-menu    # 200 menus, 2,000 helplines (ivr/bench/bigmenu.py)
    .venv/bin/python -m ivr.bench.memory --big-menu --trace   # and what tracemalloc sees
    .venv/bin/python -m ivr.bench.memory --big-menu --workers # real gunicorn workers, without wrk

The big menu is written by a child process first, so that writing it costs this process nothing.
It prints VmRSS (from /proc) at each step, the load's time, and with --trace the memory that is
live after the load and the load's high-water mark. With --workers it starts the line as
`python -m ivr bench` does (the Procfile's gunicorn command, on 127.0.0.1), sends it 1,500
signed requests of the bench's simulated calls from 8 threads (no wrk needed) and prints each
worker's VmRSS and PSS; --reload then edits the menu, lets the workers reload it, and measures again.
Linux only (it reads /proc). docs/performance.md ("Worker memory") has the results.
"""
from __future__ import annotations

import argparse
import gc
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository: menus.yaml, prompts/, gunicorn.conf.py


def rss_mb() -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-menu", action="store_true", help="load the generated menu of 2,000 helplines")
    parser.add_argument("--trace", action="store_true", help="also trace the load with tracemalloc (slower)")
    parser.add_argument("--workers", action="store_true", help="measure real gunicorn workers instead")
    parser.add_argument("--reload", action="store_true", help="with --workers: also after a live reload")
    args = parser.parse_args()
    if not args.workers and "ivr" in sys.modules:
        _again_in_a_bare_python()

    folder = tempfile.mkdtemp(prefix="ivr-memory-")
    if args.big_menu:
        subprocess.run([sys.executable, "-c", "import sys; from ivr.bench.bigmenu import write_big_menu; "
                        "write_big_menu(sys.argv[1])", folder], cwd=ROOT, check=True)
        os.environ["IVR_MENUS"] = os.path.join(folder, "menus.yaml")
        os.environ["IVR_PROMPTS"] = os.path.join(folder, "prompts")
    if args.workers:
        return workers(os.environ.get("IVR_MENUS", str(ROOT / "menus.yaml")), os.environ.get("IVR_PROMPTS"),
                       folder, args.reload)
    os.environ.update(TWILIO_AUTH_TOKEN="memory-bench", IVR_RELOAD_SECONDS="0", IVR_PUBLIC_URL="http://127.0.0.1",
                      PROMETHEUS_MULTIPROC_DIR=folder)

    print(f"{'python started':<28} {rss_mb():6.1f} MB")
    import ivr

    # imported to be measured, as the line imports them
    from ivr.operators import commands  # noqa: F401
    from ivr.ops import observability  # noqa: F401
    from ivr.testers import recording  # noqa: F401 (what create_app imports)
    from ivr.web import media, views  # noqa: F401
    gc.collect()
    before = rss_mb()
    print(f"{'app imported':<28} {before:6.1f} MB")
    if args.trace:
        tracemalloc.start()
    started = time.perf_counter()
    app = ivr.create_app()
    seconds = time.perf_counter() - started
    after = rss_mb()
    print(f"{'app built (menus loaded)':<28} {after:6.1f} MB  (+{after - before:.1f}) in {seconds * 1000:.0f} ms")
    if args.trace:
        _, peak = tracemalloc.get_traced_memory()
    gc.collect()
    collected = rss_mb()
    print(f"{'after gc.collect()':<28} {collected:6.1f} MB  (+{collected - before:.1f})")
    if args.trace:
        live, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"tracemalloc: live after the load {live / 2**20:.1f} MB, high-water mark {peak / 2**20:.1f} MB")
    assert app.extensions["ivr"].line is not None


def _again_in_a_bare_python() -> None:
    """`python -m ivr.bench.memory` imports the ivr package (Flask, twilio, the menus) before
    main() runs, which would count in "python started": the measure starts again in a Python
    that runs this file by its path (-P: not its folder on sys.path) and has imported none of it."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    os.execve(sys.executable, [sys.executable, "-P", __file__, *sys.argv[1:]], dict(os.environ, PYTHONPATH=path))


def worker_pss(server) -> str:
    """Each worker's proportional share of its memory: a page it still shares with the master
    counts in part, which RSS cannot show (what gc.freeze keeps shared, docs/performance.md)."""
    from ivr.bench.command import children
    sizes = []
    for pid in children(server.process.pid):
        for text in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if text.startswith("Pss:"):
                sizes.append(int(text.split()[1]) / 1024)
    return " ".join(f"{mb:.1f}" for mb in sorted(sizes))


def workers(menus: str, prompts: str | None, folder: str, reload: bool) -> None:
    import concurrent.futures
    import shutil
    import urllib.parse
    import urllib.request

    from twilio.request_validator import RequestValidator

    from ivr.bench import command as bench
    from ivr.ops.start import procfile_command
    from ivr.testers import phone
    if prompts is None:  # a copy of the shipped files, which --reload may edit
        shutil.copy(menus, os.path.join(folder, "menus.yaml"))
        shutil.copytree(ROOT / "prompts", os.path.join(folder, "prompts"))
    menus, prompts = os.path.join(folder, "menus.yaml"), os.path.join(folder, "prompts")
    token = "memory-bench"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_", "PROMETHEUS_"))}
    env.update(TWILIO_AUTH_TOKEN=token, IVR_MENUS=menus, IVR_PROMPTS=prompts, IVR_RELOAD_SECONDS="1",
               IVR_TRANSFER_CALLER_ID=phone.TRANSFER_CALLER_ID)
    server = bench.Server("line", procfile_command()[-1], env)
    try:
        server.wait_until_ready()
        requests = bench.recorded_requests(server.url, token, bench.call_keys(menus, prompts))
        validator = RequestValidator(token)

        def send(i: int) -> int:
            path, params = requests[i % len(requests)]
            signature = validator.compute_signature(server.url + path, params)
            request = urllib.request.Request(server.url + path, data=urllib.parse.urlencode(params).encode(),
                                             headers={"X-Twilio-Signature": signature}, method="POST")
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status

        def load(label: str) -> None:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                statuses = set(pool.map(send, range(1500)))
            sizes = " ".join(f"{mb:.1f}" for mb in server.worker_rss_mb())
            print(f"{label:<36} workers {sizes} MB, PSS {worker_pss(server)} MB (answers: {sorted(statuses)})")

        load("after 1,500 requests")
        if reload:
            text = Path(menus).read_text(encoding="utf-8")
            Path(menus).write_text(text.replace("\n", "\n# edited\n", 1), encoding="utf-8")
            time.sleep(3)  # each worker's watcher looks every second; the first request starts it
            server.log.seek(0)
            reloads = server.log.read().count("menus reloaded")
            load("after a live reload and 1,500 more")
            print(f"({reloads} of the workers logged the reload)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
