"""The docs a user reads: every Python example in README.md and docs/*.md runs, page by page, and every link
between the pages leads somewhere."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)


def python_blocks(page):
    """The page's ```python blocks, in order."""
    return [code for language, code in _BLOCK.findall(page.read_text()) if language == "python"]


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_example_of_the_page_runs(page, spark, tmp_path):
    """The blocks run in order in one namespace, as a reader runs them one after another; ``spark`` is the
    reader's session and ``tmp`` a folder of their own."""
    namespace = {"spark": spark, "tmp": str(tmp_path), "__name__": f"docs_{page.stem}"}
    for number, code in enumerate(python_blocks(page), 1):
        try:
            exec(compile(code, f"{page.name}, python block {number}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page.relative_to(ROOT)}: python block {number} failed: {e!r}") from e


def test_the_readme_is_short_and_every_page_is_linked_from_it():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    assert {p.name for p in PAGES[1:]} <= set(re.findall(r"\(docs/([\w-]+\.md)", readme))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page):
    text = page.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked.read_text()), f"{page.name} links to {target}: no such heading"


def _anchors(markdown):
    """GitHub's anchors for the page's headings."""
    headings = re.findall(r"^#+\s+(.*)$", re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
