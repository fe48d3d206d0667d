"""The operators' tools: `python -m ivr check`, `tree`, `map` (commands, overview), the time
budget (timing) and the static fallback document (fallback). The line never imports them."""
