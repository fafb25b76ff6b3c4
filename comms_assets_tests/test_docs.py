"""The generated pages of docs/ match the catalog, the dbt manifest and the asset graph, and
README.md stays a short page that links every topic page."""

import re

from comms_assets import docs

README = docs.DOCS.parent / "README.md"


def test_generated_pages_are_current() -> None:
    for page in docs.PAGES:
        text = (docs.DOCS / page).read_text()
        assert docs.render(page, text) == text, f"docs/{page}: run python -m comms_assets.docs"
    assert (docs.DOCS / "endpoints.md").read_text().count("\n| `") >= 35


def test_readme_is_short_and_links_every_page_that_exists() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) <= 250
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", readme))
    assert linked == {page.name for page in docs.DOCS.glob("*.md")}
