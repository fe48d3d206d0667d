"""The benchmark, in one folder: `python -m ivr bench` (command), its static floor (floor), a
generated big menu (bigmenu), and the measuring scripts, each run as `python -m ivr.bench.<name>`:
load (gunicorn under load), instructions and served (valgrind's counts), memory. The line never
imports them."""
