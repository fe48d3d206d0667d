"""Answers kept in memory must be exactly the answers the line would build now: the same TwiML
as a fresh render, and never an old menu's words after the line is reloaded."""
import datetime

from ivr import create_app
from ivr.call import twiml
from ivr.menus.load import load
from ivr.menus.model import BRUSSELS
from ivr.testers.phone import TRANSFER_CALLER_ID, FlaskTransport, call
from ivr.web.answers import Answers
from ivr.web.media import media_url
from ivr.web.views import step_url
from ivr.web.webhook import Webhook
from line_settings import PUBLIC_URL, TEST_MENUS, TOKEN

TEST_FILES = {"MENUS": str(TEST_MENUS / "menus.yaml"), "PROMPTS": str(TEST_MENUS / "prompts")}


def test_kept_answers_equal_fresh_renders_after_a_reload(app, client, phone, menu_copy):
    holder = app.extensions["ivr"]
    fr = holder.line.language("fr")
    path = next(p for p, page in fr.pages() if "ligne-couple" in [h.id for h in page.helplines])

    def heard_on_that_page():
        call = phone().press("1" + "".join(path))
        return call.requests[-1].body

    before = heard_on_that_page()
    assert heard_on_that_page() == before  # the second time it comes from memory

    # A reload puts a new Line in the holder (what live reload does): the kept answers must go.
    # Same words, so the same Reply, but a longer wait for a key: only the line knows that.
    menu_copy.replace("listen_seconds: 6", "listen_seconds: 9")
    holder.line = load(menu_copy.menus, menu_copy.prompts)
    assert 'timeout="6"' in before and 'timeout="9"' in heard_on_that_page()

    menu_copy.replace('name: "La ligne couple"', 'name: "La ligne couple, nouvelle version"')
    holder.line = load(menu_copy.menus, menu_copy.prompts)
    assert "nouvelle version" not in before and "nouvelle version" in heard_on_that_page()

    # The store now in memory belongs to the reloaded line and holds only its answers, each the
    # TwiML the reloaded line renders for its reply.
    kept = app.extensions["ivr_answers"]
    assert kept.line is holder.line and len(kept) > 0
    for answer in kept._kept.values():
        assert answer.body.decode() == twiml.render(holder.line, answer.reply, step_url, TRANSFER_CALLER_ID, media_url)


def webhook(n: int, minute=datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)) -> Webhook:
    """The n-th of many different requests, all in the same minute."""
    return Webhook.read("node", "fr", f"n={n}".encode(), {}, PUBLIC_URL, minute)


def test_the_store_forgets_its_oldest_answer_when_full(line):
    from ivr.call import flow
    store = Answers(line, max_answers=2)
    fr = line.language("fr")
    now = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)
    for n in range(3):
        reply = flow.node(line, fr, (), n, now)
        store.keep(webhook(n), reply, twiml.render(line, reply, step_url, None))
    assert len(store) == 2
    assert store.get(webhook(0)) is None and store.get(webhook(2)) is not None


def test_loading_the_menu_keeps_nothing_of_the_parsed_files(menu_copy):
    # Each reload would otherwise keep its whole YAML tree alive, and memory would grow per reload.
    from ivr.menus import yamlfile
    for _ in range(2):
        load(menu_copy.menus, menu_copy.prompts)
        assert len(yamlfile._constructor.constructed_objects) == 0


def test_threads_evicting_at_once_never_fail(line):
    import threading

    from ivr.call import flow
    now = datetime.datetime(2026, 11, 27, 12, 0, tzinfo=BRUSSELS)
    fr = line.language("fr")
    replies = [flow.node(line, fr, (), n, now) for n in range(3)] + [flow.node(line, fr, (k,), 0, now) for k in "123"]
    store, errors = Answers(line, max_answers=2), []

    def hammer():
        try:
            for _ in range(300):
                for n, reply in enumerate(replies):
                    store.keep(webhook(n), reply, "<Response/>")
        except Exception as e:  # noqa: BLE001 - any error is the failure this test looks for
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(store) <= 2 + 8  # at most one extra per racing thread


class Recorder(FlaskTransport):
    """Delivers each request like FlaskTransport and keeps it, to send again."""

    def __init__(self, client):
        super().__init__(client)
        self.sent = []

    def post(self, url, params, headers):
        self.sent.append((url, dict(params), dict(headers)))
        return super().post(url, params, headers)


def test_an_answer_kept_for_a_request_is_the_answer_decided_with_nothing_kept(app, client, line):
    """Every page of both languages, a wrong key and a silence on each, every transfer with each
    outcome; then each request again, answered from memory, and once more with memory emptied."""
    app.config["CLOCK"] = lambda: datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS)  # office lines open
    transport = Recorder(client)
    for code, language_key in (("fr", "1"), ("nl", "2")):
        language = line.language(code)
        for path, page in language.pages():
            keys = language_key + "".join(path)
            call(transport, PUBLIC_URL, TOKEN).press(keys).press("7").silence()
            for transfer_key, _ in page.transfers():
                for status in ("busy", "no-answer", "completed"):
                    call(transport, PUBLIC_URL, TOKEN).press(keys + transfer_key).dial_outcome(status)
    assert len(transport.sent) > 90
    kept = app.extensions["ivr_answers"]
    assert len(kept._kept) > 35  # distinct requests: the same ones came back from memory
    for url, params, headers in transport.sent:
        from_memory = FlaskTransport.post(transport, url, params, headers)
        app.extensions.pop("ivr_answers")
        decided_now = FlaskTransport.post(transport, url, params, headers)
        assert from_memory == decided_now and from_memory[0] == 200, url


def test_an_answer_kept_in_one_minute_is_decided_again_the_next(menu_copy):
    """Opening hours turn on the minute: at 22:29 a line about to open is closed, at 22:30 it is open,
    whatever the line answered the same request a minute before."""
    menu_copy.replace('      number: "0800 98 100"', '      opening_hours:\n        monday-friday: "22:30-02:00"\n'
                      '      number: "0800 98 100"')
    clock = [datetime.datetime(2026, 11, 27, 22, 29, 30, tzinfo=BRUSSELS)]
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "CLOCK": lambda: clock[0],
                      "TRANSFER_CALLER_ID": "+3225550100", "MENUS": str(menu_copy.menus),
                      "PROMPTS": str(menu_copy.prompts)})
    fr = app.extensions["ivr"].line.language("fr")
    path = next(p for p, page in fr.pages() if "ligne-sans-horaires" in [h.id for h in page.helplines])
    transport = FlaskTransport(app.test_client())
    heard = []
    for when in ((22, 29, 30), (22, 29, 59), (22, 30, 0)):
        clock[0] = clock[0].replace(hour=when[0], minute=when[1], second=when[2])
        heard.append(call(transport, PUBLIC_URL, TOKEN).press("1" + "".join(path)).said)
    assert heard[0] == heard[1] and "La ligne est fermée en ce moment." in heard[0]
    assert "La ligne est ouverte en ce moment." in heard[2]


def test_only_the_current_minutes_answers_are_kept():
    """A request of an earlier minute never comes again: its answer must not hold memory all evening."""
    clock = [datetime.datetime(2026, 11, 27, 20, 0, tzinfo=BRUSSELS)]
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "CLOCK": lambda: clock[0],
                      "TRANSFER_CALLER_ID": "+3225550100", **TEST_FILES})
    transport = FlaskTransport(app.test_client())
    for minute in range(30):
        clock[0] = clock[0].replace(minute=minute)
        call(transport, PUBLIC_URL, TOKEN).press("1").press("3").press("1")
        kept = app.extensions["ivr_answers"]._kept
        assert len(kept) == 4 and all(webhook.minute.minute == minute for webhook in kept)  # this minute's 4 requests


def test_the_minute_of_an_answer_is_the_brussels_minute_whatever_the_clocks_zone(line):
    """16:30 UTC is 17:30 in Brussels, when la ligne de bureau is closed; 16:30 Brussels time it
    is open. A tester's clock may give either: the same app must answer each for its own time."""
    clock = [None]
    app = create_app({"TWILIO_AUTH_TOKEN": TOKEN, "RELOAD_SECONDS": 0, "CLOCK": lambda: clock[0],
                      "TRANSFER_CALLER_ID": "+3225550100", **TEST_FILES})
    transport = FlaskTransport(app.test_client())
    fr = line.language("fr")
    path = next(p for p, page in fr.pages() if "ligne-bureau" in [h.id for h in page.helplines])

    def heard_at(when):
        clock[0] = when
        return call(transport, PUBLIC_URL, TOKEN).press("1" + "".join(path)).said

    assert "La ligne est ouverte en ce moment." in heard_at(datetime.datetime(2026, 11, 27, 16, 30, tzinfo=BRUSSELS))
    assert "La ligne est fermée en ce moment." in heard_at(datetime.datetime(2026, 11, 27, 16, 30, tzinfo=datetime.timezone.utc))


def test_the_webhook_reads_the_calls_state_as_werkzeugs_request_args_would():
    """The Webhook decodes the query string itself (werkzeug's MultiDict of every name cost more than
    a kept answer's lookup); it must read the same values werkzeug would have given the views."""
    from werkzeug.wrappers import Request

    from ivr.web.webhook import _query
    queries = [b"", b"at=3.1&id=sous-menu&n=1", b"at=%2A.%23", b"at=%C3%A9&n=%C2%B2", b"n=1&n=2", b"at=",
               b"line=ligne+couple&e=1", b"%61t=1.2", b"at=1%2", b"id=%FF%FE", b"at=\xc3\xa9", b"&&=&at==1"]
    for query in queries:
        args = Request({"QUERY_STRING": query.decode("latin-1"), "REQUEST_METHOD": "POST"}).args
        assert _query(query) == {k: args[k] for k in ("at", "id", "line", "n", "e") if k in args}, query
