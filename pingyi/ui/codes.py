"""What the 测评码 page shows and does, without Streamlit: counts as a table, issued batches,
and revoking a typed code with a message the office can read.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlmodel import Session

from pingyi import codes, slips
from pingyi.codes import CodeError, CodeState, GroupCodeCounts
from pingyi.models import EvaluatorGroup

COUNT_COLUMNS = ["群体", "应到人数", "已发放", "已打开", "已提交", "已作废", "未使用"]
PREVIEW_SLIPS = 4  # two rows of the A4 sheet: enough to check the print, cheap to draw
# The page's own printing hint says "共 N 张"; in a preview of the first few it would mislead.
_HIDE_HINT = "<style>.hint { display: none; }</style></head>"


def counts_frame(counts: Sequence[GroupCodeCounts]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            (c.group_name, c.headcount, c.issued, c.opened, c.submitted, c.revoked, c.unused)
            for c in counts
        ],
        columns=COUNT_COLUMNS,
    )


def submitted_share(count: GroupCodeCounts) -> float:
    """Submitted ballots over the expected headcount, for a progress bar (0 to 1)."""
    if count.headcount <= 0:
        return 0.0
    return min(count.submitted / count.headcount, 1.0)


def progress_text(count: GroupCodeCounts) -> str:
    if count.headcount <= 0:
        return f"{count.group_name}:已提交 {count.submitted}(未设应到人数)"
    percent = round(100 * count.submitted / count.headcount)
    return f"{count.group_name}:已提交 {count.submitted} / 应到 {count.headcount}({percent}%)"


def default_count(count: GroupCodeCounts) -> int:
    """How many codes to offer: the ones still missing for the headcount, else 10."""
    missing = count.headcount - count.issued
    return min(missing, codes.MAX_PER_ISSUE) if missing > 0 else 10


@dataclass(frozen=True)
class Batch:
    """Codes just issued, kept only in this browser session: the one time they exist in plain."""

    id: int
    round_name: str
    group_name: str
    codes: tuple[str, ...]
    issued_at: datetime = field(default_factory=datetime.now)

    @property
    def stem(self) -> str:
        return f"测评码_{self.group_name}_{len(self.codes)}张"

    # Cached on the batch: a sheet of 5000 QR codes takes seconds to draw, once is enough.
    @functools.cached_property
    def slips_page(self) -> bytes:
        return slips.slips_html(
            round_name=self.round_name, group_name=self.group_name, codes=self.codes
        ).encode()

    @functools.cached_property
    def csv(self) -> bytes:
        return slips.codes_csv(
            round_name=self.round_name, group_name=self.group_name, codes=self.codes
        )

    def preview_html(self) -> str:
        page = slips.slips_html(
            round_name=self.round_name,
            group_name=self.group_name,
            codes=self.codes[:PREVIEW_SLIPS],
        )
        return page.replace("</head>", _HIDE_HINT, 1)

    def codes_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"序号": range(1, len(self.codes) + 1), "测评码": map(slips.group_code, self.codes)}
        )


def revoke_typed(*, session: Session, typed: str, round_id: int) -> str:
    """Revoke the code the office typed, if it is one of this round's; the outcome in Chinese.

    Raises `CodeError` with the reason when nothing was revoked.
    """
    code = codes.normalize(typed)
    problem = codes.format_problem(code)
    if problem is not None:
        raise CodeError(problem)
    status = codes.lookup(session=session, code=code, round_id=round_id)
    if status.state is CodeState.UNKNOWN:
        raise CodeError(status.message)
    if status.state is CodeState.WRONG_ROUND:
        raise CodeError(f"{status.message};如需作废,请先在上方选择它所属的轮次")
    if status.state is CodeState.REVOKED:
        return f"测评码 {slips.group_code(code)} 此前已作废,无需再次作废"
    codes.revoke(session=session, code=code)
    group = session.get(EvaluatorGroup, status.group_id)
    whose = f"({group.name})" if group is not None else ""
    return f"已作废测评码 {slips.group_code(code)}{whose}"
