"""Menu version hashes are not phone numbers: the redactor leaves them whole in the reload lines
(before, about one in five lost its digits to "[number]"), and still blanks a number beside one."""
import hashlib

from ivr.ops.logs import redact


def versions(count):
    # As ivr/menus/load.py makes them: the first 12 hex digits of a digest.
    return [hashlib.sha256(str(i).encode()).hexdigest()[:12] for i in range(count)]


def test_reload_lines_keep_their_version_hashes():
    all_versions = versions(2000)
    assert any(v.isdigit() for v in all_versions)  # the sample has hashes that are digits only, too
    for old, new in zip(all_versions, all_versions[1:]):
        line = f"menus reloaded: version {new} replaces {old}"
        assert redact(line) == line
        refused = f"menu files refused, still serving version {old}:"
        assert redact(refused) == refused


def test_a_number_beside_a_hash_is_still_blanked():
    for version in versions(200):
        for number in ("+32 470 12 34 56", "0470123456", "32470123456", "%2B32470123456"):
            text = redact(f"version {version} From={number} at 3.1")
            assert "[number]" in text and version in text, text
            assert "470" not in text.replace(version, ""), text
    assert redact("call 324701234567") == "call [number]"  # twelve digits elsewhere are a number
