import pytest

from ivr.menus import numbers


@pytest.mark.parametrize("written,kind,e164,said", [
    ("112", numbers.EMERGENCY, None, "1 1 2"),
    ("101", numbers.EMERGENCY, None, "1 0 1"),
    ("1712", numbers.SHORT, None, "1 7 1 2"),
    ("103", numbers.SHORT, None, "1 0 3"),
    ("116 000", numbers.SHORT, None, "1 1 6, 0 0 0"),
    ("0800 30 030", numbers.FULL, "+3280030030", "0 8 0 0, 3 0, 0 3 0"),
    ("0800/30.030", numbers.FULL, "+3280030030", "0 8 0 0, 3 0, 0 3 0"),
    ("+32 800 30 030", numbers.FULL, "+3280030030", "0 8 0 0, 3 0, 0 3 0"),
    ("02 226 88 88", numbers.FULL, "+3222268888", "0 2, 2 2 6, 8 8, 8 8"),
])
def test_belgian_numbers_are_classified_and_spoken_in_their_groups(written, kind, e164, said):
    number = numbers.parse(written)
    assert (number.kind, number.e164, numbers.spoken(number)) == (kind, e164, said)
    assert number.dialable == (kind == numbers.FULL)


@pytest.mark.parametrize("written", ["123", "0800 30 03", "abc", "", "+33 1 23 45 67 89"])
def test_what_is_not_a_belgian_number_is_refused_with_a_reason(written):
    with pytest.raises(numbers.NumberError):
        numbers.parse(written)
