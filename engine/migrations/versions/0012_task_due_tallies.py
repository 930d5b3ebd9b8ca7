"""task_due_deltas, task_due_tallies and the triggers on human_tasks that feed them: the
dashboard's overdue/upcoming totals become a sum over hours (flat at any volume) instead of
a GROUP BY over every open task in the window (202,705 overdue tasks, 4.8 s at 54k instances).
Counted per UTC hour: a window's edges cut into one hour each, whose tasks are counted exactly
(per day, the edge was every task due that day: deadlines fall due by the thousand at the
same end-of-day instant).

Triggers rather than runtime code: every path that opens, closes, re-dates or deletes a task
(operations, suspensions shifting deadlines, the REST API, future ones) is counted, in the
same transaction. A later SQLite `batch_alter_table('human_tasks')` recreates the table and
drops them: such a migration must create them again (tests/test_due_counts.py checks the
counts against the tasks).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_TERRITORY = "COALESCE((SELECT territory FROM instances WHERE id = {row}.instance_id), '')"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER tr_human_tasks_due_insert AFTER INSERT ON human_tasks
    WHEN NEW.state = 'open' AND NEW.due_at IS NOT NULL
    BEGIN
      INSERT INTO task_due_deltas (due_hour, process_key, territory, delta)
      VALUES (substr(NEW.due_at, 1, 13), NEW.process_key, {_TERRITORY.format(row='NEW')}, 1);
    END""",
    f"""CREATE TRIGGER tr_human_tasks_due_update AFTER UPDATE OF state, due_at ON human_tasks
    WHEN (OLD.state IS NOT NEW.state OR OLD.due_at IS NOT NEW.due_at)
    BEGIN
      INSERT INTO task_due_deltas (due_hour, process_key, territory, delta)
      SELECT substr(OLD.due_at, 1, 13), OLD.process_key, {_TERRITORY.format(row='OLD')}, -1
      WHERE OLD.state = 'open' AND OLD.due_at IS NOT NULL;
      INSERT INTO task_due_deltas (due_hour, process_key, territory, delta)
      SELECT substr(NEW.due_at, 1, 13), NEW.process_key, {_TERRITORY.format(row='NEW')}, 1
      WHERE NEW.state = 'open' AND NEW.due_at IS NOT NULL;
    END""",
    f"""CREATE TRIGGER tr_human_tasks_due_delete AFTER DELETE ON human_tasks
    WHEN OLD.state = 'open' AND OLD.due_at IS NOT NULL
    BEGIN
      INSERT INTO task_due_deltas (due_hour, process_key, territory, delta)
      VALUES (substr(OLD.due_at, 1, 13), OLD.process_key, {_TERRITORY.format(row='OLD')}, -1);
    END""",
]

_PG_HOUR = "to_char({row}.due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION arsflow_task_due_delta() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' THEN
        IF OLD.state IS NOT DISTINCT FROM NEW.state AND OLD.due_at IS NOT DISTINCT FROM NEW.due_at THEN
          RETURN NULL;
        END IF;
      END IF;
      IF TG_OP <> 'INSERT' THEN
        IF OLD.state = 'open' AND OLD.due_at IS NOT NULL THEN
          INSERT INTO task_due_deltas (due_hour, process_key, territory, delta)
          VALUES ({_PG_HOUR.format(row='OLD')}, OLD.process_key, {_TERRITORY.format(row='OLD')}, -1);
        END IF;
      END IF;
      IF TG_OP <> 'DELETE' THEN
        IF NEW.state = 'open' AND NEW.due_at IS NOT NULL THEN
          INSERT INTO task_due_deltas (due_hour, process_key, territory, delta)
          VALUES ({_PG_HOUR.format(row='NEW')}, NEW.process_key, {_TERRITORY.format(row='NEW')}, 1);
        END IF;
      END IF;
      RETURN NULL;
    END $$""",
    """CREATE TRIGGER tr_human_tasks_due AFTER INSERT OR UPDATE OF state, due_at OR DELETE ON human_tasks
    FOR EACH ROW EXECUTE FUNCTION arsflow_task_due_delta()""",
]


def _hour(column: str, dialect: str) -> str:
    return f"substr({column}, 1, 13)" if dialect == "sqlite" else f"to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"


def upgrade():
    op.create_table(
        'task_due_deltas',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('due_hour', sa.String(13), nullable=False),
        sa.Column('process_key', sa.String(255), nullable=False),
        sa.Column('territory', sa.String(16), nullable=False),
        sa.Column('delta', sa.Integer(), nullable=False),
    )
    op.create_table(
        'task_due_tallies',
        sa.Column('due_hour', sa.String(13), primary_key=True),
        sa.Column('process_key', sa.String(255), primary_key=True),
        sa.Column('territory', sa.String(16), primary_key=True),
        sa.Column('open_tasks', sa.Integer(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    for ddl in (SQLITE_TRIGGERS if dialect == "sqlite" else POSTGRES_TRIGGERS):
        op.execute(ddl)
    # The tasks already open, counted once.
    op.execute(f"""INSERT INTO task_due_tallies (due_hour, process_key, territory, open_tasks)
        SELECT {_hour('t.due_at', dialect)}, t.process_key, COALESCE(i.territory, ''), count(*)
        FROM human_tasks t JOIN instances i ON i.id = t.instance_id
        WHERE t.state = 'open' AND t.due_at IS NOT NULL
        GROUP BY {_hour('t.due_at', dialect)}, t.process_key, COALESCE(i.territory, '')""")


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for name in ("tr_human_tasks_due_insert", "tr_human_tasks_due_update", "tr_human_tasks_due_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS tr_human_tasks_due ON human_tasks")
        op.execute("DROP FUNCTION IF EXISTS arsflow_task_due_delta()")
    op.drop_table('task_due_tallies')
    op.drop_table('task_due_deltas')
