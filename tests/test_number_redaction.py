"""Phone numbers stay out of the logs in every form, percent-encoded ones included: gunicorn's own
"Invalid HTTP request line" warning quotes the line as it came."""
import re
import socket
import time
from urllib.parse import unquote

import pytest

from ivr.ops.logs import redact

NUMBER_FORMS = [
    "+32%20470%2012%2034%2056",  # the example
    "%2B32470123456",
    "%2B32+470+12+34+56",  # form encoding: a space is "+"
    "0470%2F12.34.56",
    "%252B32%2520470%252012%252034%252056",  # escaped twice
    "%30%34%37%30%31%32%33%34%35%36",  # every digit escaped
    # Half escaped, some separators plain (issue 19: the redactor read a run only up to a plain
    # space, and unescaping the whole line, up to three times, was the patch over it)
    "%2B32%20470 12%2034%2056",
    "%2B32 470%2012 34 56",
    "%252B32%2520470 12%252034%252056",
    "%25252B32470123456",  # escaped three times
    "+32+470%2012%2034%2056",
]


def digits_seen(text: str) -> str:
    """Every digit a reader could find in `text`, once unescaped as often as it takes."""
    for _ in range(4):
        text = unquote(text)
    return re.sub(r"\D", "", text)


@pytest.mark.parametrize("form", NUMBER_FORMS)
def test_a_percent_encoded_number_is_blanked(form):
    line = f"Invalid request from ip=127.0.0.1: Invalid HTTP request line: 'POST /voice?From={form} HTTP/1.1 x'"
    out = redact(line)
    assert "470123456" not in digits_seen(out), out
    assert "Invalid HTTP request line" in out and "[number]" in out


@pytest.mark.parametrize("harmless", ["/voice/fr/key?at=1.2.3%2A&n=2", "100%25 of 12 ms", "%20ok"])
def test_menu_state_and_times_are_left_as_they_are(harmless):
    assert redact(harmless) == harmless


def test_the_words_around_a_blanked_number_keep_their_spaces():
    assert redact("GET /voice?From=%2B32%20470%2012%2034%2056 HTTP/1.1") == "GET /voice?From=[number] HTTP/1.1"


def test_gunicorn_never_writes_a_number_from_a_bad_request_line(tmp_path):
    from real_line import RealLine
    line = RealLine(tmp_path)
    try:
        for form in NUMBER_FORMS:
            with socket.create_connection(("127.0.0.1", line.port), timeout=5) as s:
                s.sendall(f"POST /voice?From={form}\r\nHost: x\r\n\r\n".encode())  # no HTTP version
                assert s.recv(100).startswith(b"HTTP/1.1 400")
        deadline = time.monotonic() + 5
        # A worker writes the same warning 10 times a minute at most (ivr/ops/logs.py, _Repeats)
        expected = min(len(NUMBER_FORMS), 10)
        while line.log().count("Invalid request from") < expected and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        line.stop()
    log = line.log() + line.output()
    assert expected <= log.count("Invalid request from") <= len(NUMBER_FORMS), log
    for written in log.splitlines():
        assert "470123456" not in digits_seen(written), written
