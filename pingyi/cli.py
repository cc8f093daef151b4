"""The `pingyi` command (also `python -m pingyi`).

Every command that works on a round takes `--round ID_OR_NAME` and defaults to the current
open round. Errors are printed in Chinese and give exit code 1.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from sqlmodel import Session, col, select

from pingyi import audit, auth, bootstrap, criteria, db, demo, groups, roster, rounds
from pingyi.models import STEP_LABELS, EvaluatorGroup, FormKind, Round, Step


class CliError(Exception):
    """A failure to report to the person at the terminal, in Chinese."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        bootstrap.initialize()
        return int(args.handler(args) or 0)
    except (CliError, ValueError, LookupError) as exc:  # AuthError, RoundError… are ValueErrors
        print(f"错误:{exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pingyi", description="领导点评和群众评议")
    commands = parser.add_subparsers(title="命令")

    def command(name: str, handler: Callable[[argparse.Namespace], int | None], helptext: str):
        sub = commands.add_parser(name, help=helptext, description=helptext)
        sub.set_defaults(handler=handler)
        return sub

    command("init", _init, "创建或升级数据库结构并载入默认测评内容(可重复执行)")

    sub = command(
        "serve", _serve, "启动评议系统(监听全部网络接口),并显示平板和手机应访问的地址及二维码"
    )
    sub.add_argument("--port", type=int, default=8501, help="端口(默认 8501)")
    sub.add_argument("--dry-run", action="store_true", help="只显示地址和启动命令,不启动")

    sub = command(
        "demo",
        _demo,
        "载入示例单位:领导班子、机关和基层党支部,已结束的上一轮(结果已公布)和开展点评中的本轮",
    )
    sub.add_argument("--size", choices=["small", "large"], default="small")
    sub.add_argument("--replace", action="store_true", help="清空现有全部数据后载入")
    sub.add_argument(
        "--no-history", action="store_true", help="只载入名册和刚开启的本轮(没有上一轮和点评)"
    )
    demo_actions = sub.add_subparsers(title="命令", dest="demo_action")
    simulate = demo_actions.add_parser(
        "simulate",
        help="在示例数据库上按会议节奏投票,让会议大屏动起来(只能用于示例数据库)",
        description="在示例数据库上按会议节奏投票,让会议大屏动起来(只能用于示例数据库)",
    )
    simulate.add_argument("--minutes", type=float, default=5.0, help="在几分钟内投完(默认 5)")
    simulate.add_argument("--group", help="只为这个评议群体投票:键、名称或编号(默认全部)")
    simulate.set_defaults(handler=_demo_simulate)

    sub = command(
        "import-roster", _import_roster, "从 .xlsx 或 .csv 名册导入(全部成功或不做任何改动)"
    )
    sub.add_argument("file", type=Path)
    roster_cmd = commands.add_parser("roster", help="名册").add_subparsers(title="命令")
    template = roster_cmd.add_parser(
        "template",
        help="写出空白名册模板:导入所需的表头和各列填写说明(与名册页下载的模板相同)",
    )
    template.add_argument(
        "--out", type=Path, required=True, help="如 名册模板.xlsx(以 .csv 结尾则写 CSV)"
    )
    template.set_defaults(handler=_roster_template)

    rules_cmd = commands.add_parser("rules", help="评议关系").add_subparsers(title="命令")
    check = rules_cmd.add_parser("check", help="检查评议关系:每类点评人和评议群体的数量及问题")
    check.add_argument("--round", help="轮次编号或名称(默认用办公室当前的规则)")
    check.set_defaults(handler=_rules_check)

    round_cmd = commands.add_parser("round", help="评议轮次").add_subparsers(title="命令")
    round_cmd.add_parser("list", help="列出全部轮次").set_defaults(handler=_round_list)
    create = round_cmd.add_parser("create", help="新建轮次(筹备阶段)")
    create.add_argument("name")
    create.add_argument("--quarter", required=True, help="如 2026Q4")
    create.add_argument("--start", type=date.fromisoformat)
    create.add_argument("--end", type=date.fromisoformat)
    create.set_defaults(handler=_round_create)
    open_ = round_cmd.add_parser("open", help="开启筹备中的轮次:按规则确定评议对象和评议关系")
    open_.add_argument("--round", required=True)
    open_.add_argument("--allow-problems", action="store_true")
    open_.set_defaults(handler=_round_open)

    codes_cmd = commands.add_parser("codes", help="测评码").add_subparsers(title="命令")
    issue = codes_cmd.add_parser("issue", help="为一个评议群体生成测评码")
    issue.add_argument("--round")
    issue.add_argument(
        "--group", required=True, help="群体:all_staff / unit_staff / vendors 或中文名称"
    )
    issue.add_argument("--count", type=int, required=True)
    issue.add_argument("--slips", type=Path, help="同时写出可打印的测评码条(HTML)")
    issue.add_argument("--csv", type=Path, help="同时写出测评码 CSV")
    issue.add_argument(
        "--base-url",
        help="测评码条二维码和链接中的地址:评议人员手机能访问的地址(默认 PINGYI_BASE_URL)",
    )
    issue.set_defaults(handler=_codes_issue)
    revoke = codes_cmd.add_parser("revoke", help="作废一个测评码")
    revoke.add_argument("code")
    revoke.set_defaults(handler=_codes_revoke)
    status = codes_cmd.add_parser("status", help="各群体测评码发放、打开、提交、作废数量")
    status.add_argument("--round")
    status.set_defaults(handler=_codes_status)

    form_cmd = commands.add_parser(
        "form", help="各评议群体的评议表:分项或总体评议、评价等级"
    ).add_subparsers(title="命令")
    shown = form_cmd.add_parser("show", help="显示各评议群体的评议方式和评价等级")
    shown.add_argument("--round", help="轮次编号或名称(默认最新的筹备中轮次,没有则为当前轮次)")
    shown.add_argument("--defaults", action="store_true", help="显示新建轮次沿用的默认设置")
    shown.set_defaults(handler=_form_show)
    form_set = form_cmd.add_parser(
        "set", help="设置一个评议群体的评议表(只能改筹备中的轮次或默认设置)"
    )
    form_set.add_argument("--group", required=True, help="评议群体:键、名称或编号")
    form_set.add_argument("--kind", required=True, help="总体(每人一个总体评价)或 分项(逐项评价)")
    form_set.add_argument(
        "--scale",
        help="本群体自己的评价等级,从好到差,逗号分隔,如 满意,基本满意,不满意"
        "(可写分数:满意=100);不写则用本轮的评价等级",
    )
    form_set.add_argument("--no-unknown", action="store_true", help="不提供「不了解」")
    form_set.add_argument("--no-comments", action="store_true", help="不设意见建议栏")
    form_set.add_argument("--round", help="轮次编号或名称(默认最新的筹备中轮次)")
    form_set.add_argument("--defaults", action="store_true", help="改新建轮次沿用的默认设置")
    form_set.set_defaults(handler=_form_set)

    evaluation_cmd = commands.add_parser(
        "evaluation", help="群众评议:开箱计票和各群体评议状态"
    ).add_subparsers(title="命令")
    close = evaluation_cmd.add_parser(
        "close",
        help="结束群众评议并开箱计票:票箱中的评议票打乱顺序后计入结果,此后该群体的测评码不能再用",
    )
    close.add_argument("--round", help="轮次编号或名称(默认当前轮次)")
    close.add_argument("--group", help="只结束这一个群体(默认:全部已有投票的群体)")
    close.set_defaults(handler=_evaluation_close)
    state = evaluation_cmd.add_parser("status", help="各群体已投票数、票箱中票数和开箱计票情况")
    state.add_argument("--round", help="轮次编号或名称(默认当前轮次)")
    state.set_defaults(handler=_evaluation_status)

    step = round_cmd.add_parser("next", help="把轮次推进到下一阶段(整改落实之后为已结束)")
    step.add_argument("--round")
    step.set_defaults(handler=_round_next)
    step = round_cmd.add_parser("step", help="把轮次设到指定阶段(如 开展点评 或 review)")
    step.add_argument("step")
    step.add_argument("--round")
    step.set_defaults(handler=_round_step)

    sub = command(
        "create-admin", _create_admin, "新建管理员账号(密码从终端输入,或从标准输入读一行)"
    )
    sub.add_argument("username")
    sub.add_argument("--name", default="", help="显示的姓名或名称")
    accounts_cmd = commands.add_parser("accounts", help="账号").add_subparsers(title="命令")
    made = accounts_cmd.add_parser(
        "create", help="为名册中还没有账号的党员生成账号和一次性初始密码(用户名为党员编号)"
    )
    made.add_argument("--out", type=Path, help="把初始密码清单写入 CSV 文件(否则打印出来)")
    made.set_defaults(handler=_accounts_create)

    sub = command("export", _export, "导出评议结果汇总表(.xlsx):汇总、各类别、分项、参与情况")
    sub.add_argument("--round", help="轮次编号或名称(默认当前轮次)")
    sub.add_argument("--out", type=Path, required=True, help="如 汇总表.xlsx")
    sub = command(
        "report", _report, "生成一个评议对象的评议结果报告(可打印的 HTML 页面或 Word 文档)"
    )
    sub.add_argument(
        "--target",
        required=True,
        help="评议对象:党员填名册中的编号(如 P00001)或姓名,党支部和领导班子填名称",
    )
    sub.add_argument("--round", help="轮次编号或名称(默认当前轮次)")
    sub.add_argument(
        "--format",
        choices=["html", "docx"],
        help="html(可打印的网页)或 docx(Word/WPS 文档);默认按 --out 的扩展名,否则 html",
    )
    sub.add_argument("--out", type=Path, required=True, help="如 报告.html 或 报告.docx")

    sub = command(
        "backup", _backup, "备份整个数据库到一个文件(SQLite 在线备份;PostgreSQL 用 pg_dump)"
    )
    sub.add_argument("--out", type=Path, required=True, help="备份文件,如 评议备份-20261130.db")
    sub = command(
        "restore", _restore, "从备份文件恢复整个数据库(请先停止应用);旧版本的备份会升级到当前版本"
    )
    sub.add_argument("file", type=Path, help="pingyi backup 生成的备份文件")
    sub.add_argument("--replace", action="store_true", help="数据库里已有数据时,用备份替换全部数据")
    return parser


def _serve(args: argparse.Namespace) -> int:
    import segno

    from pingyi import address
    from pingyi.config import PROJECT_DIR

    found = [f"http://{ip}:{args.port}" for ip in address.network_addresses()]
    if found:
        print("评议人员的平板和手机(须与本机连在同一网络)请访问:")
        for url in found:
            print(f"  {url}")
        print(f"扫码打开评议页({found[0]}/ballot):")
        segno.make(f"{found[0]}/ballot", error="m").terminal(out=sys.stdout, compact=True)
        print(f"测评码条上的地址请用 {found[0]}(在 测评码 页填写,或设置 PINGYI_BASE_URL)")
    else:
        print("没有找到本机的局域网地址:请先连上会场的网络,平板和手机才能访问本系统。")
    print(f"办公室在本机浏览器打开 http://localhost:{args.port}")
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(PROJECT_DIR / "app.py"),
        "--server.address",
        "0.0.0.0",
        "--server.port",
        str(args.port),
        "--server.headless",
        "true",
    ]
    if args.dry_run:
        print(" ".join(command))
        return 0
    sys.stdout.flush()
    os.execv(sys.executable, command)  # the app replaces this process: Ctrl+C stops it
    return 0  # pragma: no cover - execv does not return


def _init(_args: argparse.Namespace) -> int:
    print(f"数据库已就绪:{db.engine().url.render_as_string(hide_password=True)}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    with db.transaction() as session:
        summary = demo.load_demo(
            session=session,
            size=args.size,
            replace=args.replace,
            history=not args.no_history,
            actor=audit.CLI_ACTOR,
        )
    history = "" if args.no_history else "上一轮已结束、结果已公布;"
    print(
        f"已载入示例单位:{summary.branches} 个党支部,{summary.members} 名党员;{history}"
        f"进行中的轮次「{summary.round_name}」"
    )
    return 0


def _demo_simulate(args: argparse.Namespace) -> int:
    done = demo.simulate(db.engine(), minutes=args.minutes, group=args.group)
    print(f"模拟投票完成:{done.ballots} 张评议票,用时 {done.seconds:g} 秒")
    return 0


def _import_roster(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        raise CliError(f"找不到文件 {path}")
    with db.transaction() as session:
        report = roster.import_roster(
            session=session, filename=path.name, data=path.read_bytes(), actor=audit.CLI_ACTOR
        )
    if not report.ok:
        print(f"名册有 {len(report.errors)} 处错误,未做任何改动:", file=sys.stderr)
        for error in report.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    print(f"导入成功:{report.summary()}")
    for label, names in (
        ("新增", report.added),
        ("变更", report.changed),
        ("移除", report.removed),
    ):
        for name in names:
            print(f"  {label} {name}")
    return 0


def _roster_template(args: argparse.Namespace) -> int:
    out: Path = args.out
    _write(out, roster.template_bytes("csv" if out.suffix.lower() == ".csv" else "xlsx"))
    print(f"已写出名册模板:{out}。每人填一行,填好后用 pingyi import-roster {out} 导入")
    return 0


def _rules_check(args: argparse.Namespace) -> int:
    with db.session() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round) if args.round else None
        result = rounds.preview(session=session, round_=round_)
    print("领导点评(按点评人类别):")
    for kind, count in result.leader_counts().items():
        print(f"  {kind}: {count}")
    print("群众评议(按评议群体):")
    for group, count in result.mass_counts().items():
        print(f"  {group}: {count}")
    print(f"共 {len(result.leader)} 项领导点评,{len(result.mass)} 项群众评议")
    if result.problems:
        print(f"发现 {len(result.problems)} 个问题:")
        for problem in result.problems:
            print(f"  - {problem.message}")
        return 1
    print("没有发现问题")
    return 0


def _round_list(_args: argparse.Namespace) -> int:
    with db.session() as session:
        all_rounds = rounds.list_rounds(session=session)
    if not all_rounds:
        print("还没有评议轮次")
        return 0
    print(f"{'编号':<6}{'名称':<32}{'季度':<10}阶段")
    for round_ in all_rounds:
        print(
            f"{round_.id:<6}{round_.name:<32}{round_.quarter:<10}{STEP_LABELS[Step(round_.step)]}"
        )
    return 0


def _round_create(args: argparse.Namespace) -> int:
    with db.transaction() as session:
        round_ = rounds.create_round(
            session=session,
            name=args.name,
            quarter=args.quarter,
            starts_on=args.start,
            ends_on=args.end,
            actor=audit.CLI_ACTOR,
        )
    print(f"已新建轮次 {round_.id}「{round_.name}」(筹备)")
    return 0


def _round_open(args: argparse.Namespace) -> int:
    with db.transaction() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        result = rounds.open_round(
            session=session,
            round_=round_,
            allow_problems=args.allow_problems,
            actor=audit.CLI_ACTOR,
        )
    print(
        f"已开启「{round_.name}」:{len(result.targets)} 个评议对象,"
        f"{len(result.leader)} 项领导点评,{len(result.mass)} 项群众评议"
    )
    return 0


def _round_next(args: argparse.Namespace) -> int:
    with db.transaction() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        step = rounds.advance(session=session, round_=round_, actor=audit.CLI_ACTOR)
    print(f"「{round_.name}」已进入「{STEP_LABELS[step]}」阶段")
    return 0


def _round_step(args: argparse.Namespace) -> int:
    with db.transaction() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        step = rounds.parse_step(args.step)
        rounds.set_step(session=session, round_=round_, step=step, actor=audit.CLI_ACTOR)
    print(f"「{round_.name}」现在是「{STEP_LABELS[step]}」阶段")
    return 0


def _read_new_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("新管理员的密码:")
    if getpass.getpass("再次输入密码:") != first:
        raise CliError("两次输入的密码不一致")
    return first


def _create_admin(args: argparse.Namespace) -> int:
    password = _read_new_password()
    with db.transaction() as session:
        account = auth.create_admin(
            session=session,
            username=args.username,
            password=password,
            display_name=args.name,
            actor=audit.CLI_ACTOR,
        )
    print(f"已新建管理员「{account.username}」")
    return 0


def _accounts_create(args: argparse.Namespace) -> int:
    from pingyi import slips

    with db.transaction() as session:
        made = auth.create_member_accounts(session=session, actor=audit.CLI_ACTOR)
    if args.out:
        _write(args.out, slips.initial_passwords_csv(made))
        print(f"已为 {len(made)} 名党员生成账号,初始密码清单已写入 {args.out}")
    else:
        for line in made:
            print(f"{line.username}\t{line.name}\t{line.branch}\t{line.password}")
        print(f"已为 {len(made)} 名党员生成账号(初始密码只显示这一次)", file=sys.stderr)
    return 0


def find_group(*, session: Session, name: str) -> EvaluatorGroup:
    """A group by key, Chinese name or id."""
    for group in groups.all_groups(session=session):
        if name in (group.key, group.name, str(group.id)):
            return group
    known = "、".join(f"{g.key}({g.name})" for g in groups.all_groups(session=session))
    raise CliError(f"没有评议群体「{name}」;可选:{known}")


def _slip_base_url(given: str | None) -> str:
    """The address for slips and CSV links: `--base-url`, else PINGYI_BASE_URL; never a
    loopback one (the phones would open themselves). Warns when it does not answer."""
    from pingyi import address
    from pingyi.config import settings

    base = given or settings().base_url
    problem = address.printing_problem(base)
    if problem is not None:
        hint = "" if given or settings().base_url_set else "(未设置 PINGYI_BASE_URL)"
        raise CliError(
            f"{problem}{hint}请用 --base-url 给出地址,例如 --base-url http://192.168.1.20:8501"
        )
    base = address.normalize(base)
    reach = address.check(base)
    if not reach.ok:
        print(f"注意:{reach.message}", file=sys.stderr)
    return base


def _codes_issue(args: argparse.Namespace) -> int:
    from pingyi import codes, slips

    # Before any code is made: refused slips leave nothing issued.
    base = _slip_base_url(args.base_url) if args.slips or args.csv else None
    with db.transaction() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        group = find_group(session=session, name=args.group)
        plain = codes.issue(
            session=session,
            round_id=round_.id,
            group_id=group.id,
            count=args.count,
            actor=audit.CLI_ACTOR,
        )
        form_label = criteria.group_form(
            session=session,
            round_id=round_.id,
            group_id=group.id,
        ).kind_label
    if args.slips:
        args.slips.write_text(
            slips.slips_html(
                round_name=round_.name,
                group_name=group.name,
                codes=plain,
                base_url=base,
                form=form_label,
            ),
            encoding="utf-8",
        )
        print(f"测评码条已写入 {args.slips}")
    if args.csv:
        args.csv.write_bytes(
            slips.codes_csv(
                round_name=round_.name, group_name=group.name, codes=plain, base_url=base
            )
        )
        print(f"测评码 CSV 已写入 {args.csv}")
    if not args.slips and not args.csv:
        print("\n".join(plain))
    print(
        f"已为「{group.name}」生成 {len(plain)} 个测评码(只在此时显示,请妥善保存)", file=sys.stderr
    )
    return 0


def _codes_revoke(args: argparse.Namespace) -> int:
    from pingyi import codes

    with db.transaction() as session:
        codes.revoke(session=session, code=args.code, actor=audit.CLI_ACTOR)
    print("已作废")
    return 0


def _codes_status(args: argparse.Namespace) -> int:
    from pingyi import codes

    with db.session() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        rows = codes.counts(session=session, round_id=round_.id)
    print(f"「{round_.name}」测评码:")
    for row in rows:
        print(
            f"  {row.group_name}: 发放 {row.issued},已打开 {row.opened},"
            f"已提交 {row.submitted},已作废 {row.revoked}"
        )
    return 0


def _evaluation_close(args: argparse.Namespace) -> int:
    from pingyi import evaluation

    with db.session() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        if args.group:
            group_ids = [find_group(session=session, name=args.group).id]
        else:
            waiting = evaluation.open_groups(session=session, round_id=round_.id)
            group_ids = [g.group_id for g in waiting]
    if not group_ids:
        print(f"「{round_.name}」没有等待开箱计票的群体")
        evaluation.seal(db.engine())
        return 0
    for group_id in group_ids:
        done = evaluation.close(db.engine(), round_id=round_.id, group_id=group_id)
        if done.already:
            print(f"{done.group_name}:此前已开箱计票({done.ballots} 票)")
        else:
            print(f"{done.group_name}:已开箱计票,{done.ballots} 票(一刀切 {done.uniform} 票)")
        if not done.sealed:
            print("  注意:数据库文件未能封存(见日志),请稍后再执行本命令", file=sys.stderr)
    return 0


KIND_WORDS = {
    "总体": FormKind.OVERALL,
    "总体评议": FormKind.OVERALL,
    "overall": FormKind.OVERALL,
    "分项": FormKind.ITEMIZED,
    "分项评议": FormKind.ITEMIZED,
    "itemized": FormKind.ITEMIZED,
}


def _form_round(session: Session, args: argparse.Namespace, *, draft_only: bool) -> Round | None:
    """The round `form` works on: --round, else the newest round in 筹备 (else, to show, the
    current one); None with --defaults."""
    if args.defaults:
        if args.round:
            raise CliError("--defaults 与 --round 只能选一个")
        return None
    if args.round:
        return rounds.resolve(session=session, id_or_name=args.round)
    draft = session.exec(
        select(Round).where(Round.step == Step.DRAFT).order_by(col(Round.id).desc())
    ).first()
    if draft is not None:
        return draft
    if draft_only:
        raise CliError(
            "没有筹备中的轮次:评议表只能在轮次开启前设置。请先新建轮次(pingyi round create),"
            "或用 --defaults 修改新建轮次沿用的默认设置"
        )
    return rounds.resolve(session=session, id_or_name=None)


def _print_forms(title: str, forms: Sequence[criteria.GroupFormView]) -> None:
    print(title)
    for form in forms:
        print(f"  {form.group_name}({form.group_key}): {form.describe()}")


def _form_show(args: argparse.Namespace) -> int:
    with db.session() as session:
        round_ = _form_round(session, args, draft_only=False)
        round_id = round_.id if round_ else None
        forms = list(criteria.group_forms(session=session, round_id=round_id).values())
    where = f"「{round_.name}」" if round_ else "默认设置"
    state = "" if round_ is None or criteria.is_editable(round_) else "(已开启,评议表已冻结)"
    _print_forms(f"{where}各评议群体的评议表{state}:", forms)
    return 0


def _form_set(args: argparse.Namespace) -> int:
    kind = KIND_WORDS.get(args.kind.strip())
    if kind is None:
        raise CliError(f"评议方式「{args.kind}」无效:请写 总体 或 分项")
    with db.transaction() as session:
        round_ = _form_round(session, args, draft_only=True)
        round_id = round_.id if round_ else None
        group = find_group(session=session, name=args.group)
        form = criteria.set_group_form(
            session=session,
            round_id=round_id,
            group_id=group.id,
            kind=kind,
            scale_levels=criteria.parse_scale(args.scale) if args.scale else None,
            unknown=not args.no_unknown,
            comments=not args.no_comments,
            actor=audit.CLI_ACTOR,
        )
    print(f"已设置{criteria.place(round_)}{group.name}的评议表:{form.describe()}")
    return 0


def _evaluation_status(args: argparse.Namespace) -> int:
    from pingyi import evaluation

    with db.session() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        states = evaluation.status(session=session, round_id=round_.id)
    print(f"「{round_.name}」群众评议:")
    if not states:
        print("  还没有发放测评码")
    for state in states:
        counted = (
            f",计入结果 {state.ballots} 票(一刀切 {state.uniform} 票)" if state.counted else ""
        )
        print(
            f"  {state.group_name}: {state.label};发放 {state.issued},已投票 {state.cast},"
            f"票箱中 {state.in_box}{counted}"
        )
    return 0


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"无法写入 {path}:{exc.strerror or exc}") from exc


def _export(args: argparse.Namespace) -> int:
    from pingyi import reports

    with db.session() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        data = reports.summary_workbook(session=session, round_id=round_.id)
    _write(args.out, data)
    print(f"已导出「{round_.name}」评议结果汇总表:{args.out}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pingyi import documents, reports

    kind = args.format or ("docx" if args.out.suffix.lower() == ".docx" else "html")
    with db.session() as session:
        round_ = rounds.resolve(session=session, id_or_name=args.round)
        target = reports.find_target(session=session, round_id=round_.id, name_or_id=args.target)
        if kind == "docx":
            report = reports.target_report(session=session, round_id=round_.id, target_id=target.id)
            data = documents.target_report_docx(report)
        else:
            html = reports.target_report_html(
                session=session, round_id=round_.id, target_id=target.id
            )
            data = html.encode("utf-8")
    _write(args.out, data)
    what = "Word 文档" if kind == "docx" else "可打印网页"
    print(f"已生成「{target.name}」的评议结果报告({what}):{args.out}")
    return 0


def _backup(args: argparse.Namespace) -> int:
    from pingyi import backup

    made = backup.backup(bind=db.engine(), out=args.out, actor=audit.CLI_ACTOR)
    print(f"已备份到 {made.path}({made.size_text},数据库版本 {made.revision})")
    return 0


def _restore(args: argparse.Namespace) -> int:
    from pingyi import backup

    restored = backup.restore(
        bind=db.engine(), source=args.file, replace=args.replace, actor=audit.CLI_ACTOR
    )
    print(f"已从 {restored.path} 恢复数据库(备份的数据库版本 {restored.revision})")
    return 0
