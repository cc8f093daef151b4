"""What the 测评码 page shows and does, without Streamlit: counts as a table, issued batches,
and revoking a typed code with a message the office can read.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
import streamlit as st
from sqlmodel import Session

from pingyi import address, codes, slips
from pingyi.codes import CodeError, CodeState, GroupCodeCounts
from pingyi.config import settings
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
    base_url: str  # where the slips' QR codes and links point: checked not to be loopback
    form: str = ""  # the group's form, as the slips name it (分项评议 / 总体评议)
    issued_at: datetime = field(default_factory=datetime.now)

    @property
    def stem(self) -> str:
        return f"测评码_{self.group_name}_{len(self.codes)}张"

    # Cached on the batch: a sheet of 5000 QR codes takes seconds to draw, once is enough.
    @functools.cached_property
    def slips_page(self) -> bytes:
        return slips.slips_html(
            round_name=self.round_name,
            group_name=self.group_name,
            codes=self.codes,
            base_url=self.base_url,
            form=self.form,
        ).encode()

    @functools.cached_property
    def csv(self) -> bytes:
        return slips.codes_csv(
            round_name=self.round_name,
            group_name=self.group_name,
            codes=self.codes,
            base_url=self.base_url,
        )

    def preview_html(self) -> str:
        page = slips.slips_html(
            round_name=self.round_name,
            group_name=self.group_name,
            codes=self.codes[:PREVIEW_SLIPS],
            base_url=self.base_url,
            form=self.form,
        )
        return page.replace("</head>", _HIDE_HINT, 1)

    def codes_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {"序号": range(1, len(self.codes) + 1), "测评码": map(slips.group_code, self.codes)}
        )


def revoke_typed(*, session: Session, typed: str, round_id: int, actor: str) -> str:
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
    codes.revoke(session=session, code=code, actor=actor)
    group = session.get(EvaluatorGroup, status.group_id)
    whose = f"({group.name})" if group is not None else ""
    return f"已作废测评码 {slips.group_code(code)}{whose}"


# ---- the address on the slips

ADDRESS = "codes_address"  # the address typed or prefilled: kept across reruns
CHECKED = "codes_address_checked"  # (address, Reachability) of the last check


def slip_address() -> str | None:
    """The address the slips will carry, shown and editable before anything is printed: the
    base URL, or None (the reason shown) when it must not be printed."""
    st.subheader("测评码条上的地址")
    config = settings()
    try:
        suggestion = address.suggest(
            request_url=_request_url(),
            configured=config.base_url if config.base_url_set else None,
            port=st.get_option("server.port"),
        )
    except address.AddressError as exc:  # a malformed PINGYI_BASE_URL
        suggestion = address.Suggestion(f"http://localhost:{address.DEFAULT_PORT}", str(exc))
    if ADDRESS not in st.session_state:
        st.session_state[ADDRESS] = suggestion.base_url
    if len(suggestion.choices) > 1:
        st.selectbox(
            "本机有多个局域网地址,请选择手机所在网络的那一个",
            suggestion.choices,
            key="codes_address_choice",
            on_change=lambda: st.session_state.update(
                {ADDRESS: st.session_state["codes_address_choice"]}
            ),
        )
    typed = st.text_input(
        "评议人员手机访问本系统的地址",
        key=ADDRESS,
        help="打印在测评码条的二维码和链接里。手机须能打开这个地址:不能用 localhost 或 127.0.0.1。",
    )
    st.caption(f"预填自:{suggestion.source}。可以修改。")
    problem = address.printing_problem(typed)
    if problem is not None:
        st.error(problem, icon=":material/error:")
        return None
    base = address.normalize(typed)
    left, right = st.columns([3, 1])
    with left:
        st.markdown(f"测评码条上的链接:`{slips.ballot_page(base)}`")
        if st.button("检查能否访问", key="codes_address_check", icon=":material/wifi_find:"):
            with st.spinner("正在通过这个地址访问本系统……"):
                st.session_state[CHECKED] = (base, address.check(base))
        checked = st.session_state.get(CHECKED)
        if checked and checked[0] == base:
            result: address.Reachability = checked[1]
            (st.success if result.ok else st.warning)(result.message)
        st.caption("最可靠的检验:用一部连在会场网络上的手机扫右边的二维码,能打开评议页即可。")
    right.image(slips.qr_png(slips.ballot_page(base), scale=4), caption="扫码试一试")
    return base


def _request_url() -> str | None:
    try:
        return st.context.url or None
    except Exception:  # outside a browser request (AppTest): no address was used
        return None
