"""`python -m ivr twilio connect` and `check`, against a stand-in for Twilio's REST API on
127.0.0.1 (twilio-python's own client, its HTTP client pointed at the stand-in; any request that
would leave for the real API goes to a closed proxy port instead). The account's credentials are
made up here, and never appear in what the commands print."""
import base64
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from twilio.http.http_client import TwilioHttpClient

from ivr import ROOT
from ivr.operators import twilio_account
from ivr.operators.commands import main
from line_settings import TEST_MENUS

ACCOUNT = "AC" + "0" * 31 + "1"
TOKEN = "stand-in-auth-token-5f2b9c"
API_KEY, API_SECRET = "SK" + "0" * 31 + "2", "stand-in-api-secret-81d4"
LINE = "+3280012345"  # a toll-free-looking placeholder, not a real line
OTHER_NUMBER = "+3225550100"  # another number of the account (geographic: may call out)
VERIFIED = "+3225550199"  # a verified caller ID, not a number of the account
LINE_URL = "https://help.example.be"
BIN = "https://handler.twilio.com/twiml/EH0123456789abcdef0123456789abcdef"


class StandIn(BaseHTTPRequestHandler):
    """api.twilio.com's IncomingPhoneNumbers and OutgoingCallerIds, voice.twilio.com's dialing
    permissions: what the commands use, answered as Twilio does (JSON, pages, 401, 404)."""
    account: dict  # set on the subclass each test makes

    def log_message(self, *args):
        pass

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        expected = {f"{ACCOUNT}:{TOKEN}", f"{API_KEY}:{API_SECRET}"}
        header = self.headers.get("Authorization", "")
        return header.startswith("Basic ") and base64.b64decode(header[6:]).decode() in expected

    def _route(self, method):
        account = self.account
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)) if length else {}
        account["requests"].append((method, url.path, form))
        if not self._authorised():
            return self._send(401, {"code": 20003, "message": "Authenticate", "status": 401,
                                    "more_info": "https://www.twilio.com/docs/errors/20003"})
        base = f"/api.twilio.com/2010-04-01/Accounts/{ACCOUNT}"
        if method == "GET" and url.path == base + "/IncomingPhoneNumbers.json":
            numbers = [n for n in account["numbers"].values()
                       if "PhoneNumber" not in query or n["phone_number"] == query["PhoneNumber"]]
            return self._send(200, page("incoming_phone_numbers", numbers))
        if method == "GET" and url.path == base + "/OutgoingCallerIds.json":
            ids = [{"phone_number": p, "sid": "PN" + "9" * 32, "account_sid": ACCOUNT} for p in account["verified"]
                   if query.get("PhoneNumber", p) == p]
            return self._send(200, page("outgoing_caller_ids", ids))
        found = re.fullmatch(base + r"/IncomingPhoneNumbers/(PN\w+)\.json", url.path)
        if method == "POST" and found and found.group(1) in account["numbers"]:
            number = account["numbers"][found.group(1)]
            fields = {"VoiceUrl": "voice_url", "VoiceMethod": "voice_method", "VoiceFallbackUrl": "voice_fallback_url",
                      "VoiceFallbackMethod": "voice_fallback_method", "VoiceApplicationSid": "voice_application_sid"}
            for name, value in form.items():
                number[fields[name]] = value or None
            return self._send(200, number)
        if method == "GET" and url.path == "/voice.twilio.com/v1/DialingPermissions/Countries/BE/HighRiskSpecialPrefixes":
            return self._send(200, {"content": [{"prefix": p} for p in account["high_risk_prefixes"]],
                                    "meta": {"key": "content", "page": 0, "page_size": 50, "next_page_url": None,
                                             "previous_page_url": None, "first_page_url": "/", "url": "/"}})
        if method == "GET" and url.path == "/voice.twilio.com/v1/DialingPermissions/Countries/BE":
            return self._send(200, {"iso_code": "BE", "name": "Belgium", "continent": "EUROPE", "country_codes": ["+32"],
                                    "low_risk_numbers_enabled": account["belgium"],
                                    "high_risk_special_numbers_enabled": account["high_risk_special"],
                                    "high_risk_tollfraud_numbers_enabled": False,
                                    "url": "https://voice.twilio.com/v1/DialingPermissions/Countries/BE", "links": {}})
        return self._send(404, {"code": 20404, "message": f"The requested resource {url.path} was not found", "status": 404})

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")


def page(key, records):
    return {key: records, "start": 0, "end": max(len(records) - 1, 0), "page": 0, "page_size": 50,
            "first_page_uri": "/", "next_page_uri": None, "previous_page_uri": None, "uri": "/"}


def incoming(sid, phone_number, **fields):
    return {"sid": sid, "account_sid": ACCOUNT, "phone_number": phone_number, "friendly_name": phone_number,
            "voice_url": None, "voice_method": "POST", "voice_fallback_url": None, "voice_fallback_method": "POST",
            "voice_application_sid": None, "trunk_sid": None, **fields}


@pytest.fixture
def twilio(monkeypatch):
    """The stand-in's state (numbers, verified caller IDs, Belgium enabled, requests seen), with
    the commands' HTTP client pointed at it and the credentials in the environment."""
    account = {"numbers": {"PN" + "1" * 32: incoming("PN" + "1" * 32, LINE)}, "verified": [VERIFIED],
               "belgium": True, "high_risk_special": False, "high_risk_prefixes": ["+3270", "+3290"], "requests": []}
    handler = type("Handler", (StandIn,), {"account": account})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="twilio-stand-in", daemon=True)
    thread.start()
    stand_in = f"http://127.0.0.1:{server.server_address[1]}"

    class ToTheStandIn(TwilioHttpClient):
        def request(self, method, url, *args, **kwargs):
            parts = urllib.parse.urlsplit(url)
            assert parts.scheme == "https" and parts.hostname.endswith(".twilio.com"), url
            return super().request(method, f"{stand_in}/{parts.hostname}{parts.path}", *args, **kwargs)

    monkeypatch.setattr(twilio_account, "_http_client", lambda: ToTheStandIn(timeout=10))
    # Whatever escaped the stand-in would meet a closed port, never Twilio; the stand-in itself
    # is reached directly, whatever proxy the machine has.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "no_proxy", "TWILIO_EDGE", "TWILIO_REGION", "TWILIO_API_KEY", "TWILIO_API_SECRET",
                 "IVR_TWILIO_NUMBER", "IVR_PUBLIC_URL", "IVR_TRANSFER_CALLER_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IVR_MENUS", str(TEST_MENUS / "menus.yaml"))  # its helplines' transfers are checked
    monkeypatch.setenv("IVR_PROMPTS", str(TEST_MENUS / "prompts"))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    account["stand_in"] = stand_in
    yield account
    server.shutdown()
    server.server_close()
    thread.join(5)


def ivr(*args):
    """What an operator sees: the output, the exit status, and no secret in either."""
    result = CliRunner().invoke(main, list(args))
    output = result.output  # stdout and stderr, as the terminal shows them
    assert TOKEN not in output and API_SECRET not in output
    assert "Traceback" not in output and not isinstance(result.exception, AssertionError), output
    return result.exit_code, output


def the_line(account):
    return account["numbers"]["PN" + "1" * 32]


def test_connect_sets_the_voice_url_and_post_and_says_the_fallback_is_missing(twilio):
    code, out = ivr("twilio", "connect", LINE_URL)
    assert code == 0, out
    assert the_line(twilio)["voice_url"] == LINE_URL + "/voice" and the_line(twilio)["voice_method"] == "POST"
    assert f"{LINE} now sends its calls to {LINE_URL}/voice (POST)." in out
    assert "has no fallback URL" in out and "TwiML Bin" in out


def test_connect_sets_a_fallback_elsewhere_and_says_what_it_is(twilio):
    code, out = ivr("twilio", "connect", LINE_URL + "/voice/", "--fallback", BIN)
    assert code == 0, out
    assert the_line(twilio)["voice_fallback_url"] == BIN and the_line(twilio)["voice_fallback_method"] == "POST"
    assert f"When the line does not answer, Twilio plays {BIN} (POST)." in out


@pytest.mark.parametrize("fallback", [LINE_URL + "/fallback.xml", "https://HELP.example.be:8443/x"])
def test_connect_refuses_a_fallback_on_the_lines_own_host_and_changes_nothing(twilio, fallback):
    code, out = ivr("twilio", "connect", LINE_URL, "--fallback", fallback)
    assert code == 2 and "on the line's own host (help.example.be)" in out and "Nothing was changed" in out
    assert the_line(twilio)["voice_url"] is None
    assert [r for r in twilio["requests"] if r[0] == "POST"] == []


@pytest.mark.parametrize("url", ["http://help.example.be", "help.example.be", "https://help.example.be/?x=1",
                                 "https://help.example.be/line", "https://[help.example.be"])
def test_connect_refuses_an_address_twilio_should_not_send_callers_to(twilio, url):
    code, out = ivr("twilio", "connect", url)
    assert code == 2 and len(out.strip().splitlines()) == 1 and twilio["requests"] == []


def test_connect_takes_the_number_off_a_twiml_app_whose_urls_would_win(twilio):
    the_line(twilio)["voice_application_sid"] = "AP" + "3" * 32
    code, out = ivr("twilio", "connect", LINE_URL, "--fallback", BIN)
    assert code == 0 and the_line(twilio)["voice_application_sid"] is None
    assert "was handled by the TwiML App AP333" in out


def test_with_several_numbers_the_one_callers_dial_is_named(twilio, monkeypatch):
    twilio["numbers"]["PN" + "2" * 32] = incoming("PN" + "2" * 32, OTHER_NUMBER)
    code, out = ivr("twilio", "connect", LINE_URL)
    assert code == 2 and f"2 numbers ({OTHER_NUMBER}, {LINE})" in out and "IVR_TWILIO_NUMBER" in out
    monkeypatch.setenv("IVR_TWILIO_NUMBER", "080 01 23 45")  # as a volunteer may write it
    code, out = ivr("twilio", "connect", LINE_URL)
    assert code == 0 and the_line(twilio)["voice_url"] == LINE_URL + "/voice"
    assert twilio["numbers"]["PN" + "2" * 32]["voice_url"] is None
    code, out = ivr("twilio", "connect", LINE_URL, "--number", "+3225550111")
    assert code == 2 and "+3225550111 is not a number of the Twilio account" in out


def test_check_of_a_well_set_line_says_ok(twilio, monkeypatch):
    ivr("twilio", "connect", LINE_URL, "--fallback", BIN)
    for caller_id, said in ((OTHER_NUMBER, "a number of this account"), (VERIFIED, "a verified caller ID of this account")):
        twilio["numbers"]["PN" + "2" * 32] = incoming("PN" + "2" * 32, OTHER_NUMBER)
        monkeypatch.setenv("IVR_TRANSFER_CALLER_ID", caller_id)
        code, out = ivr("twilio", "check", LINE_URL, "--number", LINE)
        assert code == 0, out
        assert f"Transfers show {caller_id}, {said}." in out
        assert "Calls to Belgium are enabled" in out and out.strip().endswith("would make a real call or its transfer fail.")


def test_check_says_each_thing_that_would_make_transfers_fail(twilio, monkeypatch):
    # Every problem at once: a caller ID Twilio would refuse, Belgium not enabled, the number sent
    # to another app with GET, no fallback.
    the_line(twilio).update(voice_url="https://old-app.example.org/incoming", voice_method="GET")
    twilio["belgium"] = False
    monkeypatch.setenv("IVR_TRANSFER_CALLER_ID", "+3225550111")
    code, out = ivr("twilio", "check", LINE_URL)
    assert code == 1, out
    problems = out.strip().splitlines()
    assert problems[-1] == "4 problem(s) above would make real calls or transfers fail."
    assert f"{LINE} sends its calls to https://old-app.example.org/incoming, not to this line ({LINE_URL}/voice)" in out
    assert "has no fallback URL" in out
    assert "IVR_TRANSFER_CALLER_ID (+3225550111) is neither a number of this account nor a verified caller ID" in out
    assert "Calls to Belgium are not enabled in the account's voice dialing permissions" in out


def test_check_finds_a_fallback_on_the_lines_host_a_get_method_and_a_toll_free_caller_id(twilio):
    the_line(twilio).update(voice_url=LINE_URL + "/voice", voice_method="GET", voice_fallback_url=LINE_URL + "/fallback")
    code, out = ivr("twilio", "check", LINE_URL)
    assert code == 1, out
    assert "the line answers POST only" in out and "is on the line's own host" in out
    assert f"IVR_TRANSFER_CALLER_ID is not set and {LINE} is toll-free" in out


def test_an_api_key_works_as_well_as_the_auth_token(twilio, monkeypatch):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN")
    monkeypatch.setenv("TWILIO_API_KEY", API_KEY)
    monkeypatch.setenv("TWILIO_API_SECRET", API_SECRET)
    code, out = ivr("twilio", "connect", LINE_URL, "--fallback", BIN)
    assert code == 0 and the_line(twilio)["voice_url"] == LINE_URL + "/voice"


def test_wrong_credentials_are_said_in_one_sentence(twilio, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN + "-old")
    code, out = ivr("twilio", "check", LINE_URL)
    assert code == 2 and out.strip().splitlines() == [
        "Twilio refused the account's credentials (HTTP 401): check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN "
        "(or TWILIO_API_KEY and TWILIO_API_SECRET). Nothing was changed."]
    assert TOKEN + "-old" not in out
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", API_KEY)  # an API key's SID where the account's belongs
    asked = len(twilio["requests"])
    code, out = ivr("twilio", "check", LINE_URL)
    assert code == 2 and "TWILIO_ACCOUNT_SID is the account's SID, which starts with AC" in out
    assert len(twilio["requests"]) == asked  # said before asking Twilio anything
    monkeypatch.delenv("TWILIO_ACCOUNT_SID")
    code, out = ivr("twilio", "check", LINE_URL)
    assert code == 2 and out.startswith("No Twilio account to ask: set TWILIO_ACCOUNT_SID")


def test_python_m_ivr_twilio_answers_an_operator_without_credentials_in_one_sentence():
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    done = subprocess.run([sys.executable, "-m", "ivr", "twilio", "check"], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [f"No Twilio account to ask: {twilio_account.CREDENTIALS}."]


def test_a_network_that_does_not_reach_twilio_is_said_in_one_sentence(twilio, monkeypatch):
    class Refused(TwilioHttpClient):  # a port where nothing listens
        def request(self, method, url, *args, **kwargs):
            return super().request(method, "http://127.0.0.1:9/" + url.split("/", 3)[3], *args, **kwargs)
    monkeypatch.setattr(twilio_account, "_http_client", lambda: Refused(timeout=5))
    code, out = ivr("twilio", "connect", LINE_URL)
    assert code == 2 and out.strip().splitlines() == [
        "Could not reach Twilio's API (the connection failed): check this host's network. Nothing was changed."]


def test_the_token_is_in_no_log_either(twilio, caplog):
    caplog.set_level("DEBUG")
    ivr("twilio", "connect", LINE_URL, "--fallback", BIN)
    ivr("twilio", "check", LINE_URL)
    assert caplog.records and TOKEN not in caplog.text  # twilio's client logs each request
    assert base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode() not in caplog.text


def test_check_names_a_helpline_in_a_range_twilio_holds_back(twilio):
    # The test menu transfers to +3280030030 (la ligne couple) among others.
    ivr("twilio", "connect", LINE_URL, "--fallback", BIN)
    code, out = ivr("twilio", "check", LINE_URL)
    assert "None of the 4 numbers the line transfers to is among Twilio's high-risk special numbers." in out
    twilio["high_risk_prefixes"].append("+32 800 30")
    code, out = ivr("twilio", "check", LINE_URL)
    assert code == 1 and ("Transfers to La ligne couple (+3280030030) would fail: Twilio counts numbers starting +3280030 as "
            "high-risk special numbers") in out
    assert "Transfers to La ligne de bureau" not in out
    twilio["high_risk_special"] = True
    code, out = ivr("twilio", "check", LINE_URL)
    assert "Transfers to La ligne couple" not in out and "High-risk special numbers of Belgium are enabled too" in out


@pytest.mark.parametrize("fallback", ["http://elsewhere.example.org/f.xml", "https://[elsewhere", "handler.twilio.com/twiml/EH1"])
def test_connect_refuses_a_fallback_that_is_not_an_https_url(twilio, fallback):
    code, out = ivr("twilio", "connect", LINE_URL, "--fallback", fallback)
    assert code == 2 and out.startswith("The fallback URL must start with https://") and twilio["requests"] == []
