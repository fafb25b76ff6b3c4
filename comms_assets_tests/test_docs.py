"""README's endpoint table is generated from the catalog and must match it."""

from comms_assets import docs


def test_readme_endpoint_table_is_current() -> None:
    readme = docs.README.read_text()
    assert docs.render(readme) == readme, "run: python -m comms_assets.docs"
    assert readme.count("\n| ") >= 35
