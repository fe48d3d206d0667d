"""Resident memory of one process that loads the line as a gunicorn master does before forking
its workers: import the app, build it (which loads and checks the menus), then `gc.collect()`.

    .venv/bin/python bench/memory.py               # the shipped menu
    .venv/bin/python bench/memory.py --big-menu    # 200 menus, 2,000 helplines (ivr/bigmenu.py)
    .venv/bin/python bench/memory.py --big-menu --trace   # and what tracemalloc sees

The big menu is written by a child process first, so that writing it costs this process nothing.
It prints VmRSS (from /proc) at each step, the load's time, and with --trace the memory that is
live after the load and the load's high-water mark. Linux only (it reads /proc/self/status).
docs/performance.md ("Worker memory") has the results; `python -m ivr bench` measures real workers.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mb() -> float:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-menu", action="store_true", help="load the generated menu of 2,000 helplines")
    parser.add_argument("--trace", action="store_true", help="also trace the load with tracemalloc (slower)")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="ivr-memory-")
    if args.big_menu:
        subprocess.run([sys.executable, "-c", "import sys; from ivr.bigmenu import write_big_menu; "
                        "write_big_menu(sys.argv[1])", folder], cwd=ROOT, check=True)
        os.environ["IVR_MENUS"] = os.path.join(folder, "menus.yaml")
        os.environ["IVR_PROMPTS"] = os.path.join(folder, "prompts")
    os.environ.update(TWILIO_AUTH_TOKEN="memory-bench", IVR_RELOAD_SECONDS="0",
                      PROMETHEUS_MULTIPROC_DIR=folder)

    print(f"{'python started':<28} {rss_mb():6.1f} MB")
    import ivr
    from ivr import commands, media, observability, recording, web  # noqa: F401 (what create_app imports)
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


if __name__ == "__main__":
    main()
