"""The generated files (the dbt sources, the tables of docs/) match the catalog, the dbt manifest
and the asset graph, and README.md stays a short page that links every topic page."""

import re

from comms_assets import generated

README = generated.DOCS.parent / "README.md"


def test_generated_files_are_current() -> None:
    for path, text in generated.current().items():
        assert path.read_text() == text, f"{path.name}: run python -m comms_assets.generated"
    assert (generated.DOCS / "endpoints.md").read_text().count("\n| `") >= 35
    assert "name: justcall" in generated.SOURCES.read_text()


def test_readme_is_short_and_links_every_page_that_exists() -> None:
    readme = README.read_text()
    assert len(readme.splitlines()) <= 250
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", readme))
    assert linked == {page.name for page in generated.DOCS.glob("*.md")}
