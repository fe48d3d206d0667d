"""What the flow reports happened to a caller (ivr.call.events), request by request: what the
metrics and the log line count. Each test is a scripted call on the test menu and reads like it."""
import datetime

import pytest
from flask import request

from ivr import create_app
from ivr.call.events import (
    CallStarted,
    ClosedNow,
    EndedAfterTransfer,
    Goodbye,
    HelplinesHeard,
    LanguageChanged,
    LanguageChoiceOffered,
    MainMenuHeard,
    MenuChanged,
    MenuChoice,
    MenuHeard,
    QuickExit,
    RetryOffered,
    Silence,
    TechnicalProblem,
    TransferEnded,
    TransferNotAttempted,
    TransferStarted,
    WrongKey,
)
from ivr.menus.model import BRUSSELS
from ivr.testers.phone import TRANSFER_CALLER_ID, FlaskTransport, call, twilio_params
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

TUESDAY_MORNING = datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS)  # office lines open


def line_reporting(**config):
    """The line on the test menu, and the list each webhook's events are appended to."""
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "TRANSFER_CALLER_ID": TRANSFER_CALLER_ID,
                      "WEBHOOK_LOG": False, "CLOCK": lambda: TUESDAY_MORNING,
                      "MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts"), **config})
    reported = []

    @app.after_request
    def keep(response):  # what ivr.web hands to ivr.ops on the request
        reported.append(request.reply.events if request.reply is not None else None)
        return response
    return app, reported


@pytest.fixture
def reporting():
    return line_reporting()


def test_a_call_is_reported_step_by_step(reporting):
    app, reported = reporting
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN)
    c.silence()             # no key at the language choice
    c.press("1")            # French
    c.press("7")            # not an option
    c.press("3")            # the sub-menu
    c.silence()
    c.press("9")            # back
    c.press("1")            # la ligne couple
    c.press("1")            # put through...
    c.dial_outcome("busy")  # ...busy
    c.press("8")            # Nederlands
    c.press("#")            # quick exit
    assert reported == [
        (LanguageChoiceOffered(None),),
        (Silence(None), LanguageChoiceOffered(None)),
        (CallStarted("fr"), MainMenuHeard("fr")),
        (WrongKey("fr"), MainMenuHeard("fr")),
        (MenuChoice("fr", "accueil", "3"), MenuHeard("fr", "sous-menu")),
        (Silence("fr"), MenuHeard("fr", "sous-menu")),
        (MainMenuHeard("fr"),),
        (MenuChoice("fr", "accueil", "1"), HelplinesHeard("fr", ("ligne-couple",))),
        (TransferStarted("fr", "ligne-couple"),),
        (TransferEnded("fr", "ligne-couple", "busy"), RetryOffered("fr")),
        (LanguageChanged("nl"), MainMenuHeard("nl")),
        (QuickExit("nl"),),
    ]
    assert len(reported) == len(c.requests)


def test_how_calls_end_is_reported(reporting):
    app, reported = reporting
    transport = FlaskTransport(app.test_client())
    call(transport, PUBLIC_URL, TOKEN).press("1").press("1").press("1").dial_outcome("completed")
    assert reported[-2:] == [(TransferStarted("fr", "ligne-couple"),),
                             (TransferEnded("fr", "ligne-couple", "completed"), EndedAfterTransfer("fr"))]
    reported.clear()
    call(transport, PUBLIC_URL, TOKEN).press("#")
    assert reported[-1] == (QuickExit(None),)  # before a language was chosen
    reported.clear()
    c = call(transport, PUBLIC_URL, TOKEN).press("1").silence().silence()
    assert c.ended and reported[-2:] == [(Silence("fr"), MainMenuHeard("fr")), (Silence("fr"), Goodbye("fr"))]


def test_a_place_that_no_longer_exists_is_reported_as_a_changed_menu(reporting):
    from test_webhook import signed_post
    app, reported = reporting
    signed_post(app.test_client(), "/voice/fr/dialed?at=2&line=nobody", dict(twilio_params(), DialCallStatus="busy"))
    assert reported == [(TransferEnded("fr", None, "busy"), MenuChanged("fr"), MainMenuHeard("fr"))]


def test_a_helpline_that_closed_while_its_page_was_read_is_reported():
    clock = [datetime.datetime(2026, 12, 8, 16, 59, 30, tzinfo=BRUSSELS)]  # la ligne de bureau closes at 17:00
    app, reported = line_reporting(CLOCK=lambda: clock[0])
    c = call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("2")
    clock[0] = clock[0].replace(hour=17, minute=0)
    c.press("1")  # put through: too late
    assert reported[-1] == (ClosedNow("fr", "ligne-bureau"), HelplinesHeard("fr", ("ligne-bureau",)))


def test_a_transfer_without_a_caller_id_twilio_accepts_is_reported_as_not_attempted():
    app, reported = line_reporting(TRANSFER_CALLER_ID="")  # and the line's own number is toll-free
    call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("1").press("1")
    assert reported[-1] == (TransferNotAttempted("fr", "ligne-couple"), RetryOffered("fr"))


def test_a_failure_is_reported_as_a_technical_problem(reporting, bug_below_the_main_menu):
    app, reported = reporting
    bug_below_the_main_menu()
    call(FlaskTransport(app.test_client()), PUBLIC_URL, TOKEN).press("1").press("3")
    assert reported[-2:] == [(TechnicalProblem("fr"),), (MainMenuHeard("fr"),)]  # the apology, then the main menu
