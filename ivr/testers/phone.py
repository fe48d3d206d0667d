"""A simulated phone: runs the line's TwiML the way Twilio does, so a call can be checked
without a phone. It is the one implementation of Twilio's behaviour in the project: the tests,
`python -m ivr call` and `python -m ivr replay` (ivr.testers.fixtures) all run calls through it.

The Twilio rules it follows (https://www.twilio.com/docs/voice/twiml):
- Verbs run in document order; when the document runs out, Twilio hangs up.
- <Say> and <Play> are heard; <Pause> is silence. A <Say> may hold SSML: the phone writes
  <say-as interpret-as="digits"> digit by digit and a <break> as a comma, as the ear hears them. Inside a <Gather> they are heard too, and a
  key pressed while they play interrupts them.
- <Gather> waits for keys. It ends on `numDigits` keys, on `finishOnKey` (default '#', not sent
  in Digits but as `FinishedOnKey`; '' disables it), or after `timeout` seconds (default 5) of
  silence. With input, Twilio POSTs `Digits` to `action` (default: the current document's URL)
  and forgets the rest of the document. With no input it goes on to the next verb, unless `actionOnEmptyResult="true"`,
  in which case it POSTs an empty `Digits` to `action`.
- <Redirect> fetches its URL (method POST by default) and runs that document instead.
- <Dial> connects the caller; when it ends Twilio POSTs `DialCallStatus` (completed, busy,
  no-answer, failed, canceled) to `action` if there is one, else goes on to the next verb.
- <Hangup> ends the call.
- Relative URLs resolve against the URL of the document that holds them.
- Each request is signed: X-Twilio-Signature is the base64 HMAC-SHA1 of the full URL and the
  sorted POST parameters with the account's auth token (twilio's RequestValidator).
- Keys the caller presses while a document is fetched, or after the call stops listening, are
  not kept for a later <Gather> (`press` refuses them, so a test sees it).
- Any answer other than 200 with TwiML: the caller hears Twilio's "an application error has
  occurred" and the call ends.
"""
from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from twilio.request_validator import RequestValidator

# Placeholders: a simulated call never carries a real person's number.
CALLER = "+32470000000"
LINE_NUMBER = "+3280099990"  # a toll-free-looking placeholder, not a real line
# Transfers need a caller ID that may call out (a Belgian 0800 line may not): a placeholder too.
TRANSFER_CALLER_ID = "+3225550100"
CALL_SID = "CA" + "0" * 32
ACCOUNT_SID = "AC" + "0" * 32
MAX_FETCHES_WITHOUT_INPUT = 12  # more than this means the line is looping on its own


class LineError(AssertionError):
    """The line did something a caller would suffer from: an HTTP error, bad TwiML, a loop."""


@dataclass(frozen=True)
class Heard:
    text: str
    language: str | None = None
    voice: str | None = None
    kind: str = "say"  # "say", "play" (text is the URL) or "pause"


@dataclass
class Request:
    url: str
    params: dict
    status: int = 0
    body: str = ""


class Transport:
    """Delivers a signed POST to the line and returns (status, body)."""

    def post(self, url: str, params: dict, headers: dict) -> tuple[int, str]:
        raise NotImplementedError


class FlaskTransport(Transport):
    def __init__(self, client):
        self.client = client

    def post(self, url, params, headers):
        parts = urllib.parse.urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "")
        response = self.client.post(
            path, data=params, headers=headers, base_url=f"{parts.scheme}://{parts.netloc}",
            environ_base={"REMOTE_ADDR": "127.0.0.1"},
        )
        return response.status_code, response.get_data(as_text=True)


class HttpTransport(Transport):
    def post(self, url, params, headers):
        data = urllib.parse.urlencode(params).encode()
        request = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")


@dataclass
class Call:
    """One call in progress. Methods mirror what a caller can do."""
    transport: Transport
    base_url: str
    auth_token: str | None
    params: dict
    heard: list[Heard] = field(default_factory=list)  # since the caller last acted
    transcript: list[str] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    ended: bool = False
    waiting: str | None = None  # "keys" at a Gather, "dial" at a Dial, None when ended
    dialing: str | None = None  # the number a <Dial> is ringing
    dial_attributes: dict = field(default_factory=dict)
    _gather: ET.Element | None = None
    _rest: list = field(default_factory=list)
    _document_url: str = ""
    _pending_digits: str = ""

    # -- what a caller does ---------------------------------------------------------------
    def start(self, path: str = "/voice") -> "Call":
        self._fetch(urllib.parse.urljoin(self.base_url, path), {}, "POST")
        return self

    def press(self, keys: str) -> "Call":
        """Press keys one by one at the current <Gather>."""
        for key in keys:
            if self.waiting != "keys":
                raise LineError(f"pressed {key!r} but the line is not listening ({self._state()})")
            self.transcript.append(f"[caller presses {key}]")
            self.heard = []
            gather = self._gather
            finish = gather.get("finishOnKey", "#")
            if finish and key == finish:
                self._submit(gather, self._pending_digits, finished_on=key)
                continue
            self._pending_digits += key
            num = gather.get("numDigits")
            if num and len(self._pending_digits) >= int(num):
                self._submit(gather, self._pending_digits)
        return self

    def silence(self) -> "Call":
        """Say nothing until the <Gather> times out."""
        if self.waiting != "keys":
            raise LineError(f"silence at no Gather ({self._state()})")
        self.transcript.append("[caller is silent]")
        self.heard = []
        gather, digits = self._gather, self._pending_digits
        if digits or gather.get("actionOnEmptyResult") == "true":
            self._submit(gather, digits)
        else:
            self._gather = None
            self._continue(self._rest)
        return self

    def dial_outcome(self, status: str = "completed", seconds: int | None = None) -> "Call":
        """At a <Dial>: how the transfer ended (completed, busy, no-answer, failed, canceled) and,
        for a completed one, how long it lasted (Twilio's DialCallDuration: 60 s unless told; a few
        seconds is how a voicemail that picked up looks)."""
        if self.waiting != "dial":
            raise LineError(f"no transfer is ringing ({self._state()})")
        self.transcript.append(f"[transfer to {self.dialing}: {status}]")
        self.heard = []
        action = self.dial_attributes.get("action")
        self.waiting, self.dialing = None, None
        if action:
            extra = {"DialCallStatus": status, "DialCallSid": "CA" + "1" * 32,
                     "DialCallDuration": str(seconds if seconds is not None else 60) if status == "completed" else "0"}
            self._fetch(self._resolve(action), extra, self.dial_attributes.get("method", "POST"))
        else:
            self._continue(self._rest)
        return self

    def hang_up(self) -> "Call":
        self.transcript.append("[caller hangs up]")
        self.ended, self.waiting = True, None
        return self

    # -- what a tester reads --------------------------------------------------------------
    @property
    def listening(self) -> dict:
        """At a <Gather>: how it ends, with Twilio's defaults filled in."""
        if self.waiting != "keys":
            return {}
        gather = self._gather
        return {"numDigits": int(gather.get("numDigits")) if gather.get("numDigits") else None,
                "finishOnKey": gather.get("finishOnKey", "#"),
                "timeout": int(gather.get("timeout", "5")),
                "typed": self._pending_digits,
                "action": gather.get("action") or self._document_url}

    @property
    def said(self) -> str:
        """Everything heard since the caller last acted, as one text."""
        return " ".join(h.text for h in self.heard if h.kind == "say")

    # -- Twilio's side ------------------------------------------------------------------------
    def _state(self) -> str:
        return "call ended" if self.ended else f"waiting for {self.waiting}"

    def _resolve(self, url: str) -> str:
        return urllib.parse.urljoin(self._document_url, url)

    def _submit(self, gather: ET.Element, digits: str, finished_on: str = ""):
        self._pending_digits = ""
        self._gather, self.waiting = None, None
        action = self._resolve(gather.get("action") or self._document_url)
        self._fetch(action, {"Digits": digits, "FinishedOnKey": finished_on}, gather.get("method", "POST"))

    def _continue(self, verbs: list):
        redirect = self._run(verbs)
        if redirect is not None:
            self._fetch(self._resolve(redirect[0]), {}, redirect[1])

    def _fetch(self, url: str, extra: dict, method: str):
        if method.upper() != "POST":
            raise LineError(f"the line asked for {method} {url}; it only answers POST")
        fetches = 0
        while True:
            fetches += 1
            if fetches > MAX_FETCHES_WITHOUT_INPUT:
                raise LineError(f"{fetches} documents in a row without waiting for the caller: a loop")
            params = dict(self.params, **extra)
            headers = {}
            if self.auth_token:
                headers["X-Twilio-Signature"] = RequestValidator(self.auth_token).compute_signature(url, params)
            status, body = self.transport.post(url, params, headers)
            self.requests.append(Request(url, params, status, body))
            if status != 200:
                self._end("an application error has occurred")
                raise LineError(f"POST {url} answered {status}: the caller would hear Twilio's error message")
            try:
                root = ET.fromstring(body)
            except ET.ParseError as e:
                self._end("an application error has occurred")
                raise LineError(f"POST {url} answered no valid TwiML ({e})") from None
            if root.tag != "Response":
                raise LineError(f"POST {url} answered <{root.tag}>, not <Response>")
            self._document_url = url
            redirect = self._run(list(root))
            if redirect is None:
                return
            url, method, extra = self._resolve(redirect[0]), redirect[1], {}
            if method.upper() != "POST":
                raise LineError(f"a Redirect asks for {method}; the line only answers POST")

    def _run(self, verbs: list):
        """Runs verbs until the caller must act; returns (url, method) when a Redirect is met."""
        while verbs:
            verb, verbs = verbs[0], verbs[1:]
            tag = verb.tag
            if tag in ("Say", "Play", "Pause"):
                self._hear(verb)
            elif tag == "Gather":
                for inner in verb:
                    if inner.tag not in ("Say", "Play", "Pause"):
                        raise LineError(f"<{inner.tag}> cannot be nested in <Gather>")
                    self._hear(inner)
                self._gather, self._rest, self.waiting = verb, verbs, "keys"
                return None
            elif tag == "Redirect":
                return (verb.text or "").strip(), verb.get("method", "POST")
            elif tag == "Dial":
                numbers = [n.text.strip() for n in verb.findall("Number")] or [(verb.text or "").strip()]
                self.dialing, self.dial_attributes = numbers[0], dict(verb.attrib)
                self._rest, self.waiting = verbs, "dial"
                self.transcript.append(f"[line dials {self.dialing}]")
                return None
            elif tag == "Hangup":
                self._end(None)
                return None
            else:
                raise LineError(f"<{tag}> is not a verb this line should use")
        self._end(None)  # Twilio hangs up when the document has no more verbs
        return None

    def _hear(self, verb: ET.Element):
        if verb.tag == "Say":
            heard = Heard(_ssml_text(verb), verb.get("language"), verb.get("voice"))
            self.transcript.append(f"{heard.language or '?'}: {heard.text}")
        elif verb.tag == "Play":
            heard = Heard((verb.text or "").strip(), kind="play")
            self.transcript.append(f"(plays {heard.text})")
        else:
            heard = Heard("", kind="pause")
        self.heard.append(heard)

    def _end(self, why: str | None):
        if why:
            self.transcript.append(f"[{why}]")
        self.transcript.append("[call ended]")
        self.ended, self.waiting = True, None


def _ssml_text(say: ET.Element) -> str:
    """What a <Say> speaks, as a tester reads it: "0 8 0 0, 3 0, 0 3 0" for a number in SSML."""
    def visit(element: ET.Element) -> str:
        if element.tag == "say-as" and element.get("interpret-as") == "digits":
            inner = " ".join(element.text or "")
        elif element.tag == "break":
            inner = ", "
        else:
            inner = (element.text or "") + "".join(visit(child) + (child.tail or "") for child in element)
        return inner
    text = " ".join(visit(say).split())
    return re.sub(r"\s*,(\s*,)*\s*", ", ", text).replace(", .", ".").strip()


def twilio_params(caller: str = CALLER, line_number: str = LINE_NUMBER, call_sid: str = CALL_SID) -> dict:
    """The parameters Twilio sends with every webhook of an inbound call (placeholders)."""
    return {
        "AccountSid": ACCOUNT_SID, "ApiVersion": "2010-04-01", "CallSid": call_sid,
        "CallStatus": "in-progress", "Direction": "inbound",
        "From": caller, "Caller": caller, "FromCountry": "BE", "CallerCountry": "BE",
        "FromCity": "", "FromState": "", "FromZip": "", "CallerCity": "", "CallerState": "", "CallerZip": "",
        "To": line_number, "Called": line_number, "ToCountry": "BE", "CalledCountry": "BE",
        "ToCity": "", "ToState": "", "ToZip": "", "CalledCity": "", "CalledState": "", "CalledZip": "",
    }


def call(transport: Transport, base_url: str, auth_token: str | None, *, caller: str = CALLER,
         line_number: str = LINE_NUMBER, path: str = "/voice", call_sid: str = CALL_SID) -> Call:
    """Place a call to the line and run it until it waits for the caller."""
    return Call(transport, base_url, auth_token, twilio_params(caller, line_number, call_sid)).start(path)
