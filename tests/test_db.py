import pytest
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel, select

from pingyi import bootstrap, criteria, db
from pingyi.models import EvaluatorGroup, ScaleLevel, Template


def test_initialize_is_idempotent_and_seeds_defaults_once(engine: Engine) -> None:
    bootstrap.initialize(engine)
    bootstrap.initialize(engine)
    with db.session(engine) as s:
        assert len(s.exec(select(Template)).all()) == 4
        assert len(s.exec(select(EvaluatorGroup)).all()) == 3
        labels = [level.label for level in criteria.scale(session=s, round_id=None)]
    assert labels == ["好", "较好", "一般", "差", "不了解"]


def test_seed_criteria_follow_the_plan(engine: Engine) -> None:
    with db.session(engine) as s:
        counts = {
            t.key: len(criteria.criteria_of(session=s, template_id=t.id))
            for t in s.exec(select(Template))
        }
    assert counts == {"branch": 6, "leader": 7, "member": 6, "team": 6}


def test_unknown_level_is_never_scored(engine: Engine) -> None:
    with db.session(engine) as s:
        unknown = s.exec(select(ScaleLevel).where(ScaleLevel.label == "不了解")).one()
    assert unknown.score is None


def test_sqlite_file_uses_wal_and_foreign_keys(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_transaction_rolls_back_on_error(engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="boom"), db.transaction(engine) as s:
        s.add(EvaluatorGroup(key="x", name="临时", headcount=1))
        s.flush()
        raise RuntimeError("boom")
    with db.session(engine) as s:
        assert s.exec(select(EvaluatorGroup).where(EvaluatorGroup.key == "x")).first() is None


def test_schema_has_every_table(engine: Engine) -> None:
    """The migrated database has every table of the models, each with the model's columns, and
    no table the models do not know but alembic's own."""
    schema = inspect(engine)
    tables = SQLModel.metadata.sorted_tables
    assert {"member", "branch", "round", "ballot", "rating", "tally"} <= {t.name for t in tables}
    assert set(schema.get_table_names()) == {t.name for t in tables} | {"alembic_version"}
    for table in tables:
        columns = {column["name"] for column in schema.get_columns(table.name)}
        assert columns == set(table.columns.keys()), table.name
