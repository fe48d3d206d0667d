"""The testers' tools: the simulated phone (phone), `python -m ivr call` and `replay` (tester),
the fixture format (fixtures) and the recording of calls as fixtures (recording)."""
