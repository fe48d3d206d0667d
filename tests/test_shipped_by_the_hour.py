"""Every path of the shipped menus at a weekday morning, a Sunday night and a Belgian public
holiday. What is open at each hour is derived from menus.yaml (the model's own open_at), so an
operator's correct edit keeps this green; a transfer offered into a closed line, a failed or short
transfer without a line that answers day and night, or hours said without a source turn it red."""
import datetime

import pytest

from ivr.call import flow
from ivr.call.speech import OTHER_NUMBERS_KEY, numbers_in
from ivr.menus.model import BRUSSELS, public_holidays
from ivr.operators.timing import heard

MOMENTS = {
    "weekday morning": datetime.datetime(2026, 12, 8, 10, 30, tzinfo=BRUSSELS),
    "Sunday night": datetime.datetime(2026, 12, 6, 3, 0, tzinfo=BRUSSELS),
    "public holiday": datetime.datetime(2026, 12, 25, 10, 0, tzinfo=BRUSSELS),
}
assert datetime.date(2026, 12, 25) in public_holidays()


def day_and_night_named(line, language, said) -> bool:
    """Some sentence reads the number of a helpline a source confirms answers day and night."""
    numbers = {n.e164 or n.written for s in said for n in numbers_in(s)}
    return any(h.day_and_night and h.number is not None and (h.number.e164 or h.number.written) in numbers
               for h in language.helplines.values())


def walks(line):
    for moment, now in MOMENTS.items():
        for language in line.languages:
            for path, page in language.pages():
                yield moment, now, language, path, page


@pytest.mark.parametrize("moment", MOMENTS)
def test_no_transfer_is_offered_into_a_line_closed_at_that_hour(shipped_line, moment):
    now = MOMENTS[moment]
    offered_somewhere = False
    for language in shipped_line.languages:
        for path, page in language.pages():
            said = heard(flow.node(shipped_line, language, path, 0, now))
            offered = {s.offers for s in said if s.offers}
            for key, helpline in page.transfers():
                if key in offered:
                    offered_somewhere = True
                    assert helpline.open_at(now) is not False, (moment, language.code, path, helpline.id)
            for helpline in page.helplines:
                if helpline.open_at(now) is False:
                    closed_at = [i for i, s in enumerate(said) if s.text == language.prompts["closed_now"]]
                    assert closed_at, (moment, language.code, path, helpline.id)
                    name_at = next(i for i, s in enumerate(said) if s.text.startswith(helpline.name))
                    assert day_and_night_named(shipped_line, language, said[:name_at]) or any(
                        h.open_at(now) for h in page.helplines[:page.helplines.index(helpline)]
                    ), (moment, language.code, path, helpline.id, "no open line named before the closed one")
    assert offered_somewhere or moment != "weekday morning"


def test_an_unanswered_or_short_transfer_always_names_a_line_that_answers_day_and_night(shipped_line):
    for moment, now, language, path, page in walks(shipped_line):
        said = heard(flow.node(shipped_line, language, path, 0, now))
        offered = {s.offers for s in said if s.offers}
        for key, helpline in page.transfers():
            if key not in offered:
                continue
            for status in ("busy", "no-answer", "failed"):
                failed = heard(flow.dialed(shipped_line, language, path, helpline.id, status, now))
                assert day_and_night_named(shipped_line, language, failed), (moment, language.code, path, helpline.id, status)
            short = flow.dialed(shipped_line, language, path, helpline.id, "completed", now,
                                seconds=shipped_line.short_transfer_seconds - 1)
            assert isinstance(short.next, flow.Ask)
            others = heard(flow.others(shipped_line, language, path, helpline.id, OTHER_NUMBERS_KEY, now))
            assert day_and_night_named(shipped_line, language, others), (moment, language.code, path, helpline.id)


def test_hours_are_said_only_for_lines_whose_hours_have_a_source(shipped_line):
    for moment, now, language, path, page in walks(shipped_line):
        said = [s.text for s in heard(flow.node(shipped_line, language, path, 0, now))]
        for helpline in page.helplines:
            if helpline.hours and any(t.startswith(helpline.hours) for t in said):
                assert helpline.source, (language.code, helpline.id, "hours said without a source")


def test_112_and_101_are_in_the_first_sentence_after_the_language_choice(shipped_line):
    now = MOMENTS["weekday morning"]
    for language in shipped_line.languages:
        first = heard(flow.language_key(shipped_line, language.key, 0, now))[0]
        assert set(numbers_in(first)) >= {shipped_line.emergency_number, shipped_line.police_number}, first.text
