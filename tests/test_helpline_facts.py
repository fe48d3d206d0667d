"""The helpline facts and their sources live in the project (issue 20, item 6): a clone holds
everything menus.yaml and the README cite."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_facts_file_is_in_the_project_and_cited_instead_of_a_path_outside_it():
    facts = ROOT / "docs" / "helplines.md"
    assert facts.is_file() and "| source" in facts.read_text(encoding="utf-8")
    for cited_by in ("menus.yaml", "README.md"):
        text = (ROOT / cited_by).read_text(encoding="utf-8")
        assert "docs/helplines.md" in text, cited_by
        assert "shared/content" not in text, cited_by
