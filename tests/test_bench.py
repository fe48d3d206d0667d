"""The benchmark command must keep working (its timings are not tested: a benchmark is not a
test), and the generated big menu it uses must be a menu the line really runs."""
import re
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from ivr import ROOT
from ivr.bench.bigmenu import write_big_menu
from ivr.bench.command import call_keys
from ivr.menus.load import inspect
from ivr.operators.commands import main
from ivr.testers.phone import FlaskTransport, call
from line_settings import PUBLIC_URL, TOKEN

# round, server, req/s, p50, p99, errors, CPU us per request, then each worker's RSS
ROW = re.compile(r"^\s+1 (line|floor)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)  ([\d. ]+)$", re.M)


@pytest.mark.skipif(shutil.which("wrk") is None,
                    reason="wrk is not installed (apt-get install wrk); .ci/run installs it")
def test_the_bench_command_loads_line_and_floor_end_to_end():
    done = subprocess.run(
        [sys.executable, "-m", "ivr", "bench", "--rounds", "1", "--seconds", "1", "--connections", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {m.group(1): m for m in ROW.finditer(done.stdout)}
    assert set(rows) == {"line", "floor"}, done.stdout
    for row in rows.values():
        assert int(row.group(2)) > 0  # requests per second
        assert row.group(5) == "0"  # errors: every signed request of the walk was answered
        assert int(row.group(6)) > 0  # the workers' CPU time was read
        assert len(row.group(7).split()) == 2  # the two workers of gunicorn.conf.py, measured
    assert "line/floor throughput" in done.stdout


def test_the_bench_command_says_how_to_install_wrk_when_it_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["bench", "--rounds", "1", "--seconds", "1"])
    assert result.exit_code == 1
    assert "wrk is not installed" in result.output and "apt-get install wrk" in result.output


def test_the_generated_big_menu_loads_cleanly_and_takes_calls_to_its_deepest_pages(tmp_path, make_app):
    menus = write_big_menu(tmp_path)
    line, problems = inspect(menus)
    # 200 menus cannot fit in three levels of six options: only "too deep" warnings are expected.
    assert [p for p in problems if "keep the tree at most 3 levels deep" not in p.message] == []
    assert sum(len(lang.menus) for lang in line.languages) == 200
    assert sum(len(lang.helplines) for lang in line.languages) == 2000

    app = make_app({"TWILIO_AUTH_TOKEN": TOKEN, "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menus), "PROMPTS": str(tmp_path / "prompts")})
    for keys in call_keys(menus, tmp_path / "prompts"):
        phone = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN)
        assert len(keys) == 1 + 4 + 1  # language, four levels down, transfer
        phone.press("".join(keys[:-1]))
        assert "0 8 0 0" in phone.said  # a helpline's number, read out
        phone.press(keys[-1])
        assert phone.dialing is not None and phone.dialing.startswith("+32800")


def test_the_in_process_timing_needs_no_wrk_and_replays_every_request_with_200(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(main, ["bench", "--in-process", "--runs", "1"])  # 70 passes of each app, not 470
    assert result.exit_code == 0, result.output
    timings = dict(re.findall(r"^\s+(line|floor)\s+(\d+) us per request", result.output, re.M))
    assert set(timings) == {"line", "floor"} and all(int(us) > 0 for us in timings.values())


def test_the_instruction_count_workload_answers_every_request():
    """`python -m ivr.bench.instructions`, without valgrind: its workload (the bench's signed requests through
    the line in process, fixed clock, kept answers) must keep answering 200."""
    out = subprocess.run([sys.executable, "-m", "ivr.bench.instructions", "--passes", "1", "--no-valgrind"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "every request answered 200" in out.stdout and re.search(r"^requests [1-9]\d*$", out.stderr, re.M)


def test_the_served_count_starts_both_servers_and_every_request_is_answered():
    """`python -m ivr.bench.served`, without valgrind: the line (fixed clock, no watcher) and the floor under the
    Procfile's gunicorn settings, sent the bench's signed requests; any answer but 200 stops it."""
    out = subprocess.run([sys.executable, "-m", "ivr.bench.served", "--no-valgrind"],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert "line and floor: every request answered 200" in out.stdout


def test_the_memory_measure_starts_from_a_python_that_has_not_imported_the_line():
    """`python -m ivr.bench.memory` imports the ivr package before its main() runs; its first row
    must still be a bare Python's memory, or "app imported" would show no cost at all."""
    out = subprocess.run([sys.executable, "-m", "ivr.bench.memory"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = dict(re.findall(r"^(python started|app imported)\s+([\d.]+) MB", out.stdout, re.M))
    assert set(rows) == {"python started", "app imported"}, out.stdout
    assert float(rows["app imported"]) - float(rows["python started"]) > 10, out.stdout  # Flask, twilio, the menus
