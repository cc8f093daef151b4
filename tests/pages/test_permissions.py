"""Who may open which page, for every page and role, in AppTest on the demo bureau.

The matrix below is the 方案's, written out by hand (not read from the menu code): a page a
person may use runs without error; any other page shows only 「您没有访问此页面的权限。」, and a
logged-out visitor sees only the login form, even with the page's URL typed by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from apptools import member_accounts
from streamlit.testing.v1 import AppTest

from pingyi.ui import auth as login

OFFICE = "office"
PARTY_SECRETARY = "P00001"  # 党组书记: reviewer, leading group
BRANCH_SECRETARY = "P00026"  # a grassroots 支部书记: reviews their branch, not in the leading group
MEMBER = "P00014"  # an ordinary 机关 member: reviews nobody
MEMBERS = (PARTY_SECRETARY, BRANCH_SECRETARY, MEMBER)
EVERYONE = (OFFICE, *MEMBERS)
OFFICE_ONLY = (OFFICE,)

ALLOWED: dict[str, tuple[str, ...]] = {
    "pages/home.py": EVERYONE,
    "pages/password.py": EVERYONE,
    "pages/highlights.py": EVERYONE,
    "pages/summary.py": MEMBERS,
    "pages/my_reviews.py": MEMBERS,
    "pages/rectification.py": (OFFICE, *MEMBERS),
    "pages/inspection.py": (OFFICE, PARTY_SECRETARY),
    "pages/briefing.py": (OFFICE, PARTY_SECRETARY, BRANCH_SECRETARY),
    "pages/review.py": (PARTY_SECRETARY, BRANCH_SECRETARY),
    "pages/rounds.py": OFFICE_ONLY,
    "pages/roster.py": OFFICE_ONLY,
    "pages/relations.py": OFFICE_ONLY,
    "pages/criteria.py": OFFICE_ONLY,
    "pages/accounts.py": OFFICE_ONLY,
    "pages/codes.py": OFFICE_ONLY,
    "pages/meeting.py": OFFICE_ONLY,
    "pages/results.py": OFFICE_ONLY,
    "pages/settings.py": OFFICE_ONLY,
    "pages/audit.py": OFFICE_ONLY,
}
CASES = [(page, who) for page in ALLOWED for who in EVERYONE]


@pytest.fixture
def accounts(demo_db: Path) -> None:
    """Accounts for the three members, their passwords already changed."""
    member_accounts(MEMBERS)


def main_texts(at: AppTest) -> list[str]:
    """Every text element of the page's main area."""
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error")
    return [str(e.value) for kind in kinds for e in getattr(at.main, kind)]


def test_the_matrix_names_every_page_of_the_app() -> None:
    pages = {p.name for p in (Path(__file__).resolve().parents[2] / "pages").glob("*.py")}
    public = {"ballot.py", "login.py", "setup.py"}
    assert {Path(p).name for p in ALLOWED} == pages - public


@pytest.mark.parametrize(("page", "who"), CASES, ids=[f"{p[6:-3]}-{w}" for p, w in CASES])
def test_each_role_opens_its_pages_and_nothing_else(
    accounts: None, open_page, page: str, who: str
) -> None:
    at = open_page(page, as_=who)
    errors = [e.value for e in at.main.error]
    if who in ALLOWED[page]:
        assert login.MSG_NO_ACCESS not in errors
        assert at.main.title, "the page drew itself"
    else:
        assert errors == [login.MSG_NO_ACCESS]
        assert main_texts(at) == [login.MSG_NO_ACCESS], "nothing but the refusal"
        assert not at.main.dataframe and not at.main.button


@pytest.mark.parametrize("page", list(ALLOWED))
def test_a_logged_out_visitor_gets_only_the_login_form(
    accounts: None, open_page, page: str
) -> None:
    at = open_page(page, as_=None)
    assert [w.value for w in at.main.warning] == [login.MSG_LOGIN_FIRST]
    assert [t.label for t in at.main.text_input] == ["用户名", "密码"]
    assert not at.main.title and not at.main.dataframe and not at.main.error
