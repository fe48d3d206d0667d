"""Belgian phone numbers: what kind of number it is, how to say it, whether it may be dialled.

Twilio cannot connect a call to an emergency or short number from Belgium, so only full numbers
(E.164, such as +3280030030) are ever transfer targets. phonenumbers carries the national
numbering plan, including which short numbers are emergency numbers.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import shortnumberinfo

REGION = "BE"

EMERGENCY = "emergency"  # 112, 101: hang up and dial
SHORT = "short"  # 103, 1712, 116 000...: hang up and dial
FULL = "full"  # 0800 30 030, 02 226 88 88: may be transferred to


@dataclass(frozen=True, slots=True)
class PhoneNumber:
    written: str  # as an operator wrote it and as Belgians read it: "0800 30 030"
    kind: str  # EMERGENCY, SHORT or FULL
    e164: str | None  # "+3280030030" for full numbers, None for short ones
    groups: tuple[str, ...]  # ("0800", "30", "030")

    @property
    def dialable(self) -> bool:
        return self.kind == FULL


class NumberError(ValueError):
    pass


_ALLOWED = re.compile(r"^[+0-9 ./-]+$")


def parse(written: str) -> PhoneNumber:
    """Classify a number as written in menus.yaml; raise NumberError with a plain reason."""
    text = str(written).strip()
    if not text or not _ALLOWED.match(text):
        raise NumberError(f"'{written}' is not a phone number: use digits and spaces, like 0800 30 030")
    digits = re.sub(r"[ ./-]", "", text)
    if not digits.startswith("+") and not digits.startswith("0"):
        if shortnumberinfo.is_emergency_number(digits, REGION):
            return PhoneNumber(text, EMERGENCY, None, (digits,))
        short = phonenumbers.parse(digits, REGION)
        if phonenumbers.is_valid_short_number(short):
            return PhoneNumber(text, SHORT, None, _groups_of_short(text, digits))
        raise NumberError(f"'{written}' is neither a Belgian short number nor a full number starting with 0")
    try:
        number = phonenumbers.parse(digits, REGION)
    except phonenumbers.NumberParseException:
        raise NumberError(f"'{written}' cannot be read as a phone number") from None
    if number.country_code != 32 or not phonenumbers.is_valid_number(number):
        raise NumberError(f"'{written}' is not a valid Belgian phone number")
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return PhoneNumber(text, FULL, e164, tuple(national.split()))


def _groups_of_short(text: str, digits: str) -> tuple[str, ...]:
    # Keep the operator's grouping ("116 000"); a bare short number is one group.
    parts = tuple(p for p in re.split(r"[ ./-]+", text) if p)
    return parts if "".join(parts) == digits else (digits,)


# Every webhook asks this of Twilio's To (the line's own number, one of a handful): phonenumbers
# takes some 30 us to parse it. Only line and helpline numbers come here, never a caller's.
@functools.lru_cache(maxsize=256)
def to_e164(text: str) -> str | None:
    """The E.164 form of a full number given in any common form, or None."""
    try:
        number = phonenumbers.parse(str(text), REGION)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def spoken(number: PhoneNumber) -> str:
    """Digit by digit, a pause between the Belgian groups: "0 8 0 0, 3 0, 0 3 0".

    Neural Polly voices read plain digits and commas reliably; a number written as one block
    would be read as a cardinal ("mille sept cent douze"), which nobody can dial from.
    """
    return ", ".join(" ".join(group) for group in number.groups)


def is_toll_free(e164: str) -> bool:
    """An 0800 number: Twilio lets no call go out from a Belgian one, so it cannot be a caller ID."""
    try:
        number = phonenumbers.parse(e164, REGION)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE
