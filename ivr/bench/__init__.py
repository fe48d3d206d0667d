"""The benchmark: `python -m ivr bench` (command), its static floor (floor) and a generated big
menu (bigmenu). The line never imports them."""
