"""A warning repeated by every forged request is written 10 times a minute, not a million; errors
are always written; a quoted header does not make a line of kilobytes."""
import io
import logging

from ivr.ops import logs


class Clock:
    """logs' `time` module, with a monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def __getattr__(self, name):
        return getattr(logs_time, name)


logs_time = logs.time


def a_logger(name):
    """A logger writing to a string through the redacting formatter and the limit on repeats."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.Redacting("%(levelname)s %(message)s"))
    handler.addFilter(logs._Repeats())
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_a_repeated_warning_is_written_ten_times_a_minute_then_says_how_many_were_left_out(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(logs, "time", clock)
    logger, stream = a_logger("test.repeats")
    for i in range(1000):
        logger.warning("refused a webhook from %s", f"+32 470 11 12 {i % 100:02d}")
    logger.error("a failure is always written")
    logger.error("a failure is always written")
    clock.now += 61
    logger.warning("refused a webhook from %s", "+32 470 11 12 22")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10 + 2 + 1, lines
    assert lines[-1] == "WARNING refused a webhook from [number] [and 990 more like this in the last minute, left out]"
    assert "470" not in stream.getvalue()


def test_a_long_message_is_cut():
    logger, stream = a_logger("test.long")
    logger.warning("header: %s", "x" * 10_000)
    line = stream.getvalue().strip()
    assert len(line) < logs.MAX_MESSAGE + 100 and line.endswith("[8008 characters left out]"), line[-100:]
