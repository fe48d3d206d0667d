"""TwiML for a flow reply, built with twilio's VoiceResponse (never by hand).

Each sentence gets the voice of its language. A key the caller presses during a <Gather> cuts the
speech short, so everything a caller may want to skip is said inside the Gather; after it, a
<Redirect> to the silence step runs only if the caller pressed nothing (Twilio goes on to the next
verb when a Gather times out without input).
"""
from __future__ import annotations

from typing import Callable

from twilio.twiml.voice_response import VoiceResponse

from .flow import Ask, HangUp, Reply, Step, Transfer
from .model import Line, Recording
from .speech import Said


def render(line: Line, reply: Reply, url: Callable[[Step], str], caller_id: str | None,
           media_url: Callable[[str, Recording], str] | None = None) -> str:
    """`url` turns a Step into the URL Twilio will call; `caller_id` is shown on transfers;
    `media_url(language, recording)` is where Twilio fetches an operator's recording."""
    response = VoiceResponse()
    _say_all(line, response, reply.said, media_url)
    nxt = reply.next
    if isinstance(nxt, Ask):
        gather = response.gather(
            action=url(nxt.on_key),
            method="POST",
            input="dtmf",
            num_digits=1,
            timeout=line.listen_seconds,
            finish_on_key="",  # so that '#' (quick exit) reaches us as a key like any other
            action_on_empty_result=False,
        )
        _say_all(line, gather, nxt.said, media_url)
        response.redirect(url(nxt.on_silence), method="POST")
    elif isinstance(nxt, Transfer):
        dial = response.dial(
            action=url(nxt.then),
            method="POST",
            timeout=nxt.ring_seconds,
            caller_id=None if nxt.show_caller_number else caller_id,
        )
        dial.number(nxt.number)
    elif isinstance(nxt, Step):
        response.redirect(url(nxt), method="POST")
    elif isinstance(nxt, HangUp):
        response.hangup()
    return str(response)


def _say_all(line: Line, verb, said: tuple[Said, ...], media_url) -> None:
    for s in said:
        if s.recording is not None and media_url is not None:
            verb.play(media_url(s.language, s.recording))
            continue
        language = line.language(s.language)
        verb.say(s.text, voice=language.voice, language=language.speech_language)
