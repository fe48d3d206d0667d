from .operators.commands import main

main(prog_name="python -m ivr")
