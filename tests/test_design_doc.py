"""docs/DESIGN.md stays true as code moves: every section a module cites exists, every citation
names the file where it is, and the module tables of its Architecture section list exactly the
modules of pingyi/ and pingyi/ui/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DESIGN = ROOT / "docs" / "DESIGN.md"
THIS = Path(__file__).resolve()

# `DESIGN.md "Results"`, also with the section name on the next line of a docstring or comment.
CITATION = re.compile(r'DESIGN\.md(?:\s|#)*"([^"\n]+)"')
BARE = re.compile(r"(?<![\w/])DESIGN\.md")
MODULE_ROW = re.compile(r"^\| `(pingyi/[\w/]+\.py)` \|", re.MULTILINE)


def cited_files() -> list[Path]:
    files = [ROOT / "app.py", ROOT / "README.md"]
    for folder in ("pingyi", "pages", "tests"):
        files.extend(sorted((ROOT / folder).rglob("*.py")))
    return [f for f in files if f.resolve() != THIS]


def headings(text: str) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def section(text: str, heading: str) -> str:
    """The body of a `## heading` section, up to the next heading of the same level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/DESIGN.md has no section «## {heading}»"
    return match.group(1)


def listed_modules() -> set[str]:
    return set(MODULE_ROW.findall(section(DESIGN.read_text(), "Architecture")))


def package_modules() -> set[str]:
    found = set()
    for folder in ("pingyi", "pingyi/ui"):
        for path in (ROOT / folder).glob("*.py"):
            if not path.name.startswith("__"):
                found.add(f"{folder}/{path.name}")
    return found


def test_every_cited_section_is_a_heading_of_the_design() -> None:
    titles = headings(DESIGN.read_text())
    citations = {
        (f.relative_to(ROOT).as_posix(), name)
        for f in cited_files()
        for name in CITATION.findall(f.read_text(encoding="utf-8"))
    }
    assert citations, "no module cites a section of docs/DESIGN.md: the pattern is wrong"
    missing = sorted(f"{where}: «{name}»" for where, name in citations if name not in titles)
    assert not missing, "cited sections that docs/DESIGN.md lacks:\n" + "\n".join(missing)


def test_citations_name_the_file_where_it_is() -> None:
    bare = [
        f.relative_to(ROOT).as_posix()
        for f in cited_files()
        if BARE.search(f.read_text(encoding="utf-8"))
    ]
    assert not bare, "cite docs/DESIGN.md, not DESIGN.md, in: " + ", ".join(bare)


def test_architecture_lists_every_module_of_the_package() -> None:
    listed, present = listed_modules(), package_modules()
    assert listed, "the Architecture section of docs/DESIGN.md has no module table"
    assert not (listed - present), f"listed but not in the package: {sorted(listed - present)}"
    assert not (present - listed), f"in the package but not listed: {sorted(present - listed)}"


def test_section_finder_stops_at_the_next_section() -> None:
    text = "# T\n## Architecture\n| `pingyi/a.py` | x |\n## Other\n| `pingyi/b.py` | y |\n"
    assert MODULE_ROW.findall(section(text, "Architecture")) == ["pingyi/a.py"]


def test_citation_pattern_reads_a_citation_split_over_two_lines() -> None:
    assert CITATION.findall('see docs/DESIGN.md\n    # "Who reviews"') == ["Who reviews"]
    assert BARE.findall("docs/DESIGN.md") == []
    assert BARE.findall("see DESIGN.md") == ["DESIGN.md"]
