"""The simulated phone against hand-written TwiML: one test per Twilio rule it follows."""
import pytest

from ivr.testers.phone import Call, LineError, Transport, twilio_params

BASE = "https://line.example.org"


class Documents(Transport):
    """A fake line: answers each URL with a fixed TwiML document and keeps every request."""

    def __init__(self, documents: dict):
        self.documents = documents
        self.posted = []

    def post(self, url, params, headers):
        self.posted.append((url[len(BASE):], dict(params)))
        if url[len(BASE):] not in self.documents:
            return 404, "not found"
        return 200, "<Response>" + self.documents[url[len(BASE):]] + "</Response>"


def dial_in(documents, path="/voice"):
    line = Documents(documents)
    return Call(line, BASE, "token", twilio_params()).start(path), line


def posted_paths(line):
    return [path for path, _ in line.posted]


SAY_THEN_GATHER = ('<Gather action="/next" numDigits="1"><Say>Menu.</Say></Gather>'
                   '<Say>Nothing pressed.</Say><Hangup/>')


def test_a_key_at_a_gather_posts_digits_to_its_action_and_forgets_the_rest():
    call, line = dial_in({"/voice": SAY_THEN_GATHER, "/next": "<Say>Thanks.</Say>"})
    assert call.said == "Menu." and call.waiting == "keys"
    call.press("4")
    assert posted_paths(line) == ["/voice", "/next"]
    assert line.posted[1][1]["Digits"] == "4"
    assert call.said == "Thanks."  # "Nothing pressed." is never heard
    assert call.ended  # the document ran out: Twilio hangs up


def test_silence_at_a_gather_goes_on_with_the_next_verb_without_a_request():
    call, line = dial_in({"/voice": SAY_THEN_GATHER})
    call.silence()
    assert call.said == "Nothing pressed."
    assert posted_paths(line) == ["/voice"] and call.ended


def test_silence_with_action_on_empty_result_posts_empty_digits():
    call, line = dial_in({"/voice": '<Gather action="/next" actionOnEmptyResult="true"/><Say>Not heard.</Say>',
                          "/next": "<Say>Empty.</Say>"})
    call.silence()
    assert posted_paths(line) == ["/voice", "/next"]
    assert line.posted[1][1]["Digits"] == ""
    assert call.said == "Empty."


def test_without_num_digits_keys_are_collected_until_the_finish_key_which_is_not_sent():
    call, line = dial_in({"/voice": '<Gather action="/pin"/>', "/pin": "<Say>Checked.</Say>"})
    call.press("12")
    assert call.waiting == "keys" and call.listening["typed"] == "12"
    call.press("#")
    assert line.posted[1][1]["Digits"] == "12" and line.posted[1][1]["FinishedOnKey"] == "#"


def test_keys_typed_before_a_timeout_are_sent_when_the_caller_goes_silent():
    call, line = dial_in({"/voice": '<Gather action="/pin" timeout="3"/>', "/pin": "<Say>Ok.</Say>"})
    assert call.listening["timeout"] == 3
    call.press("7").silence()
    assert line.posted[1][1]["Digits"] == "7" and line.posted[1][1]["FinishedOnKey"] == ""


def test_an_empty_finish_on_key_makes_hash_an_ordinary_key():
    call, line = dial_in({"/voice": '<Gather action="/k" finishOnKey="" numDigits="1"/>', "/k": "<Hangup/>"})
    call.press("#")
    assert line.posted[1][1]["Digits"] == "#"


def test_a_gather_without_action_posts_to_the_document_itself():
    call, line = dial_in({"/menu?x=1": '<Gather numDigits="1"/>'}, path="/menu?x=1")
    call.press("2")
    assert posted_paths(line) == ["/menu?x=1", "/menu?x=1"]


@pytest.mark.parametrize("document_path,action,expected", [
    ("/voice/fr/node", "key?at=1", "/voice/fr/key?at=1"),
    ("/voice/fr/node", "../nl/node", "/voice/nl/node"),
    ("/voice/fr/node", "/voice/language", "/voice/language"),
])
def test_relative_action_urls_resolve_against_the_document_url(document_path, action, expected):
    call, line = dial_in({document_path: f'<Gather action="{action}" numDigits="1"/>',
                          expected: "<Hangup/>"}, path=document_path)
    call.press("1")
    assert posted_paths(line)[-1] == expected


def test_a_redirect_is_followed_at_once_relative_to_the_document():
    call, line = dial_in({"/voice/a": "<Say>One.</Say><Redirect>b?n=1</Redirect><Say>Never.</Say>",
                          "/voice/b?n=1": "<Say>Two.</Say><Hangup/>"}, path="/voice/a")
    assert posted_paths(line) == ["/voice/a", "/voice/b?n=1"]
    assert call.said == "One. Two." and call.ended


def test_a_redirect_loop_is_reported_as_a_fault_of_the_line():
    with pytest.raises(LineError, match="loop"):
        dial_in({"/voice": "<Redirect>/voice</Redirect>"})


def test_a_dial_with_action_posts_the_outcome_there():
    call, line = dial_in({"/voice": '<Dial action="/after" timeout="20"><Number>+3280030030</Number></Dial>'
                                    "<Say>Never heard.</Say>",
                          "/after": "<Say>Back.</Say>"})
    assert call.waiting == "dial" and call.dialing == "+3280030030"
    assert call.dial_attributes["timeout"] == "20"
    call.dial_outcome("busy")
    assert posted_paths(line) == ["/voice", "/after"]
    assert line.posted[1][1]["DialCallStatus"] == "busy"
    assert call.said == "Back."


def test_a_dial_without_action_goes_on_with_the_next_verb():
    call, line = dial_in({"/voice": "<Dial>+3280030030</Dial><Say>After the call.</Say>"})
    assert call.dialing == "+3280030030"
    call.dial_outcome("completed")
    assert posted_paths(line) == ["/voice"]
    assert call.said == "After the call." and call.ended


def test_play_is_heard_as_the_file_it_plays():
    call, _ = dial_in({"/voice": "<Play>https://example.org/welcome.mp3</Play><Hangup/>"})
    assert call.heard[0].kind == "play" and call.heard[0].text == "https://example.org/welcome.mp3"
    assert "(plays https://example.org/welcome.mp3)" in call.transcript


def test_an_http_error_is_what_the_caller_would_suffer():
    with pytest.raises(LineError, match="404"):
        dial_in({"/other": "<Hangup/>"})


def test_keys_pressed_when_the_line_is_not_listening_are_refused():
    call, _ = dial_in({"/voice": "<Say>Bye.</Say><Hangup/>"})
    with pytest.raises(LineError, match="not listening"):
        call.press("1")


def test_every_request_is_signed_as_twilio_signs_it():
    from twilio.request_validator import RequestValidator

    class Checking(Documents):
        def post(self, url, params, headers):
            assert RequestValidator("token").validate(url, params, headers["X-Twilio-Signature"])
            return super().post(url, params, headers)

    line = Checking({"/voice": '<Gather action="/k" numDigits="1"/>', "/k": "<Hangup/>"})
    Call(line, BASE, "token", twilio_params()).start().press("1")
    assert len(line.posted) == 2
