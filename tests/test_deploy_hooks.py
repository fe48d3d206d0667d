"""gunicorn.conf.py is settings plus hooks, each hook one call into ivr/ops/server.py, and the
metrics folder is chosen when gunicorn reads the file, before the app is loaded: the order that
emptied /metrics under the Procfile's default settings when it was the other way round.
tests/test_deploy.py runs the Procfile's command itself and reads the counts back."""
import ast
import os
import subprocess
import sys
import textwrap

from ivr import ROOT
from ivr.ops import server

HOOKS = ["on_starting", "when_ready", "post_worker_init", "post_request", "worker_exit", "child_exit", "on_exit"]


def config_tree():
    return ast.parse((ROOT / "gunicorn.conf.py").read_text())


def test_each_hook_is_one_call_into_the_server_module():
    hooks = [node for node in config_tree().body if isinstance(node, ast.FunctionDef)]
    assert [hook.name for hook in hooks] == HOOKS
    for hook in hooks:
        assert len(hook.body) == 1, f"{hook.name} does more than one call"
        call = hook.body[0].value
        assert isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute), hook.name
        assert call.func.value.id == "server" and callable(getattr(server, call.func.attr)), hook.name
    assert not [node for node in config_tree().body if isinstance(node, ast.ClassDef)]


def test_the_metrics_folder_is_chosen_before_any_setting_or_hook():
    body = config_tree().body
    first = next(i for i, node in enumerate(body) if not isinstance(node, (ast.Import, ast.ImportFrom))
                 and "sys.path" not in ast.unparse(node))
    assert ast.unparse(body[first]) == "server.choose_metrics_folder()"
    imports = [ast.unparse(node) for node in body[:first] if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports == ["import os", "import sys", "from ivr.ops import server"]


CONFIG_THEN_APP = """
    import os, runpy, sys
    # The worst order: prometheus_client and the metrics are imported before the config is read.
    import prometheus_client
    from ivr.ops import metrics
    from ivr import create_app
    first = runpy.run_path("gunicorn.conf.py")
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    again = runpy.run_path("gunicorn.conf.py")  # gunicorn reads it again on SIGHUP: the same folder
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == folder
    first["on_starting"](None)
    app = create_app({"TWILIO_AUTH_TOKEN": "t", "RELOAD_SECONDS": 0, "TRUSTED_PROXIES": "0"})
    pid = os.fork()
    if pid == 0:  # a worker
        metrics.count_all([(metrics.CALLS_STARTED, ("fr",))] * 3)
        metrics.flush()
        os._exit(0)
    os.waitpid(pid, 0)
    text = metrics.exposition()[0].decode()
    print(folder)
    print(sorted(line for line in text.splitlines() if line.startswith(("ivr_calls_started_total", "ivr_worker_timeouts_total"))))
    first["on_exit"](None)
    print(os.path.exists(folder))
"""


def test_counts_reach_the_folder_whatever_was_imported_first(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(TMPDIR=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(CONFIG_THEN_APP)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    folder, samples, exists = done.stdout.splitlines()[-3:]
    assert folder == str(tmp_path / f"ivr-metrics-{folder.rsplit('-', 1)[1]}")
    # the unlabelled counter too, defined before the folder was chosen: it is read from the folder
    assert samples == "['ivr_calls_started_total{language=\"fr\"} 3.0', 'ivr_worker_timeouts_total 0.0']"
    assert exists == "False"  # removed at the stop
    assert "made again" not in done.stderr and "deleted" not in done.stderr


def test_only_our_folders_of_runs_that_are_gone_are_removed(tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"ivr-metrics-{gone.pid}"
    dead.mkdir()
    (dead / "counter_1.db").write_bytes(b"\0" * 8)
    alive = tmp_path / f"ivr-metrics-{os.getppid()}"  # a line that is running
    alive.mkdir()
    other = tmp_path / "ivr-metrics-notapid"
    other.mkdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep").write_text("x")
    gone2 = subprocess.Popen(["true"])
    gone2.wait()
    link = tmp_path / f"ivr-metrics-{gone2.pid}"
    link.symlink_to(target)
    dead_too = tmp_path / f"ivr-metrics-{gone.pid}-k3_x9"  # made by mkdtemp when the plain name was taken
    dead_too.mkdir()
    removed = server.remove_stale_folders(str(tmp_path))
    assert sorted(removed) == sorted([str(dead), str(dead_too)])
    assert not dead.exists() and not dead_too.exists() and alive.is_dir() and other.is_dir() and link.is_symlink()
    assert (target / "keep").exists()
