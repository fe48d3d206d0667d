"""Operations: /healthz, /metrics and the JSON log line of each webhook (observability), the
metrics themselves (metrics) and logs that never hold a phone number (logs)."""
