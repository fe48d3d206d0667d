"""The load test (ivr/bench/load.py) in small: the real gunicorn server, 32 concurrent calls for a few
seconds, menus.yaml rewritten twice a second, one worker killed half-way."""
from ivr.bench import load as bench_load


def test_the_line_holds_under_load_with_menu_edits_and_a_killed_worker():
    summary = bench_load.run(calls=32, seconds=3, workers=2, edit_every=0.5)
    assert summary["problems"] == [], summary
    assert summary["workers_killed"] == 1
    assert summary["answers_5xx"] == 0 and summary["broken_calls"] == []
    # Every failure was in flight on the killed worker: a gevent worker holds many connections, and
    # a SIGKILL drops all of them (at most the 32 calls' requests, one each).
    assert summary["failures"] == summary["failures_in_flight_on_killed_worker"] <= 32
    # a call cut by the killed worker may not have got anywhere; every other call did
    assert summary["calls"] >= 32
    assert summary["calls_reaching_main_menu_or_helpline"] >= summary["calls"] - summary["failures"]
    assert summary["requests"] > 100 and summary["p99_ms"] > 0
    assert summary["menu_edits"]["valid"] >= 2 and summary["menu_edits"]["broken"] >= 2
    # live reload took the valid edits and refused the broken files, calls going on throughout
    assert summary["menu_versions_served"] >= 2 and summary["calls_hearing_an_edit"] > 0
    assert summary["reloads_logged"] >= 1 and summary["refused_edits_logged"] >= 1
    assert summary["log_lines_with_caller_number"] == []
