"""TwiML for a flow reply, built with twilio's VoiceResponse (never by hand).

Each sentence gets the voice of its language. A key the caller presses during a <Gather> cuts the
speech short, so everything a caller may want to skip is said inside the Gather; after it, a
<Redirect> to the silence step runs only if the caller pressed nothing (Twilio goes on to the next
verb when a Gather times out without input).
"""
from __future__ import annotations

from typing import Callable

from twilio.twiml.voice_response import VoiceResponse

from ..menus.model import Line, Recording
from ..menus.numbers import PhoneNumber
from .flow import Ask, HangUp, Reply, Step, Transfer
from .speech import Said

# How a phone number is read (SSML that Amazon Polly's neural voices support: <say-as> except
# "characters", <break>, and <prosody> rate and volume; docs.aws.amazon.com/polly/latest/dg/
# supportedtags.html): a little slower than the sentence around it, digit by digit, a pause
# between the groups Belgians write ("0800, 30, 030"). ivr.operators.timing counts the same pauses.
NUMBER_RATE = "90%"
GROUP_PAUSE_MS = 300


def render(line: Line, reply: Reply, url: Callable[[Step], str], caller_id: str | None,
           media_url: Callable[[str, Recording], str] | None = None) -> str:
    """`url` turns a Step into the URL Twilio will call; `caller_id` is shown on transfers;
    `media_url(language, recording)` is where Twilio fetches an operator's recording."""
    response = VoiceResponse()
    say_all(line, response, reply.said, media_url)
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
        say_all(line, gather, nxt.said, media_url)
        response.redirect(url(nxt.on_silence), method="POST")
    elif isinstance(nxt, Transfer):
        dial = response.dial(
            action=url(nxt.then),
            method="POST",
            timeout=nxt.ring_seconds,
            caller_id=None if nxt.show_caller_number else caller_id,
        )
        dial.number(nxt.number, send_digits=nxt.press_after_answer)
    elif isinstance(nxt, Step):
        response.redirect(url(nxt), method="POST")
    elif isinstance(nxt, HangUp):
        response.hangup()
    return str(response)


def say_all(line: Line, verb, said: tuple[Said, ...], media_url) -> None:
    for s in said:
        if s.recording is not None and media_url is not None:
            verb.play(media_url(s.language, s.recording))
            continue
        language = line.language(s.language)
        if not s.parts:
            verb.say(s.text, voice=language.voice, language=language.speech_language)
            continue
        say = verb.say(voice=language.voice, language=language.speech_language)
        for part in s.parts:
            if isinstance(part, PhoneNumber):
                say_number(say, part)
            else:
                say.append(part)


def say_number(say, number: PhoneNumber) -> None:
    prosody = say.prosody(rate=NUMBER_RATE)
    for i, group in enumerate(number.groups):
        if i:
            prosody.break_(time=f"{GROUP_PAUSE_MS}ms")
        prosody.say_as(group, interpret_as="digits")
