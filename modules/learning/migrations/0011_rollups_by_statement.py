"""The contents' and the schedules' rollups kept once per statement when rows come or go in bulk.

Migrations 0006 and 0007 kept ``ContentTotal``, ``CategoryTotal`` and ``RecallGroup`` with row-level
triggers: a statement that inserts, deletes or moves N contents (or inserts or deletes N schedules)
updated the same few rollup rows N times in one transaction. PostgreSQL cannot prune the row versions
its own open transaction made, so each of those updates walked a longer chain of them: the cost grew
with the square of N. Deleting 10,000 contents took 4.5 s where 2,500 took 0.42 s; the bench's heavy
learner's account deletion spent 5.4 of its 6.9 s of SQL in these triggers, and a learner with 50,000
contents could not delete a category or the account within the request's time.

Here inserts and deletes of contents and schedules, and contents' moves between owners or categories,
are summed from the statement's transition tables: one grouped write per rollup row per statement,
whatever N. Each statement's changes to a rollup table are one upsert in key order (a decrease only of
a row that exists), so two writers take their rows in the same order and never deadlock: moves of
contents between two categories in opposite directions at once (tests/learning/
test_rollup_lock_order.py) deadlocked when increases and decreases were two statements. Only a schedule's UPDATE stays row by row: it is the review's own statement (one row,
migration 0010's inlined function, unchanged), where a statement-level trigger would cost more.
"""

from django.db import migrations

# A card's anchor: its last review, or its content's creation when it was never reviewed (the same
# expression as learning_recall_anchor and migration 0006's fill).
_CARDS = r"""
SELECT s.user_id, s.stage,
       s.scheduler = 'fsrs' AND s.stability IS NOT NULL AND s.difficulty IS NOT NULL AS fsrs,
       CAST(EXTRACT(EPOCH FROM COALESCE(s.last_reviewed_at, c.created_at)) AS double precision) / 86400.0 AS e
  FROM {table} s LEFT JOIN learning_content c ON c.id = s.content_id
"""

_GROUPS = r"""
SELECT user_id, fsrs, stage, floor(e)::integer AS day, COUNT(*)::integer AS cards,
       SUM(e - floor(e)) AS offset_sum, SUM((e - floor(e)) * (e - floor(e))) AS offset_square_sum,
       MAX(e) AS anchor_max
  FROM ({cards}) cards
 WHERE e IS NOT NULL
 GROUP BY user_id, fsrs, stage, floor(e)
"""

ADDED_GROUPS = _GROUPS.format(cards=_CARDS.format(table="new_schedules"))
REMOVED_GROUPS = _GROUPS.format(cards=_CARDS.format(table="old_schedules"))

# The contents' two totals from a statement's transition tables. ``changed`` is the rows whose owner or
# category moved (an UPDATE); an INSERT's rows only add and a DELETE's only remove.
_CONTENT_DELTAS = r"""
  INSERT INTO learning_contenttotal AS t (user_id, contents)
  SELECT d.user_id, SUM(d.delta) FROM ({rows}) d
   GROUP BY d.user_id
  HAVING SUM(d.delta) > 0
      OR (SUM(d.delta) < 0 AND EXISTS (SELECT 1 FROM learning_contenttotal x WHERE x.user_id = d.user_id))
   ORDER BY d.user_id
  ON CONFLICT (user_id) DO UPDATE SET contents = t.contents + EXCLUDED.contents;
  INSERT INTO learning_categorytotal AS t (user_id, category_id, contents)
  SELECT d.user_id, d.category_id, SUM(d.delta) FROM ({rows}) d
   WHERE d.category_id IS NOT NULL
   GROUP BY d.category_id, d.user_id
  HAVING SUM(d.delta) > 0
      OR (SUM(d.delta) < 0 AND EXISTS (SELECT 1 FROM learning_categorytotal x
                                        WHERE x.category_id = d.category_id AND x.user_id = d.user_id))
   ORDER BY d.category_id, d.user_id
  ON CONFLICT (category_id, user_id) DO UPDATE SET contents = t.contents + EXCLUDED.contents;
"""

_ADDED_ROWS = "SELECT user_id, category_id, 1 AS delta FROM new_contents"
_REMOVED_ROWS = "SELECT user_id, category_id, -1 AS delta FROM old_contents"
_MOVED = (
    "old_contents o JOIN new_contents n ON n.id = o.id"
    " WHERE o.user_id IS DISTINCT FROM n.user_id OR o.category_id IS DISTINCT FROM n.category_id"
)
_MOVED_ROWS = (
    f"SELECT n.user_id, n.category_id, 1 AS delta FROM {_MOVED}"
    f" UNION ALL SELECT o.user_id, o.category_id, -1 FROM {_MOVED}"
)

FORWARD = rf"""
DROP TRIGGER learning_recall_group_of_schedule ON learning_reviewschedule;
CREATE TRIGGER learning_recall_group_of_schedule
AFTER UPDATE ON learning_reviewschedule
FOR EACH ROW EXECUTE FUNCTION learning_recall_group_of_schedule();

CREATE OR REPLACE FUNCTION learning_recall_groups_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO learning_recallgroup AS g (user_id, fsrs, stage, day, cards, offset_sum, offset_square_sum, anchor_max)
  SELECT user_id, fsrs, stage, day, cards, offset_sum, offset_square_sum, anchor_max
    FROM ({ADDED_GROUPS}) added
   ORDER BY user_id, fsrs, stage, day
  ON CONFLICT (user_id, fsrs, stage, day) DO UPDATE SET
    cards = g.cards + EXCLUDED.cards,
    offset_sum = g.offset_sum + EXCLUDED.offset_sum,
    offset_square_sum = g.offset_square_sum + EXCLUDED.offset_square_sum,
    anchor_max = GREATEST(g.anchor_max, EXCLUDED.anchor_max);
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION learning_recall_groups_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- the groups lowered in key order, like every other writer of them (no deadlock between two)
  INSERT INTO learning_recallgroup AS g (user_id, fsrs, stage, day, cards, offset_sum, offset_square_sum, anchor_max)
  SELECT user_id, fsrs, stage, day, -cards, -offset_sum, -offset_square_sum, anchor_max
    FROM ({REMOVED_GROUPS}) removed
   WHERE EXISTS (SELECT 1 FROM learning_recallgroup x WHERE x.user_id = removed.user_id
                    AND x.fsrs = removed.fsrs AND x.stage = removed.stage AND x.day = removed.day)
   ORDER BY user_id, fsrs, stage, day
  ON CONFLICT (user_id, fsrs, stage, day) DO UPDATE SET
    cards = g.cards + EXCLUDED.cards,
    offset_sum = g.offset_sum + EXCLUDED.offset_sum,
    offset_square_sum = g.offset_square_sum + EXCLUDED.offset_square_sum;
  -- a group left without cards goes, as with the row-level trigger (its rows are ours by now)
  DELETE FROM learning_recallgroup g
   USING (SELECT DISTINCT user_id, fsrs, stage, day FROM ({REMOVED_GROUPS}) removed) emptied
   WHERE g.user_id = emptied.user_id AND g.fsrs = emptied.fsrs AND g.stage = emptied.stage
     AND g.day = emptied.day AND g.cards <= 0;
  RETURN NULL;
END
$$;

CREATE TRIGGER learning_recall_groups_added
AFTER INSERT ON learning_reviewschedule
REFERENCING NEW TABLE AS new_schedules
FOR EACH STATEMENT EXECUTE FUNCTION learning_recall_groups_added();

CREATE TRIGGER learning_recall_groups_removed
AFTER DELETE ON learning_reviewschedule
REFERENCING OLD TABLE AS old_schedules
FOR EACH STATEMENT EXECUTE FUNCTION learning_recall_groups_removed();

DROP TRIGGER learning_content_total ON learning_content;
DROP TRIGGER learning_category_total_added ON learning_content;
DROP TRIGGER learning_category_total_removed ON learning_content;
DROP TRIGGER learning_category_total_moved ON learning_content;

CREATE OR REPLACE FUNCTION learning_content_totals_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_CONTENT_DELTAS.format(rows=_ADDED_ROWS)}
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION learning_content_totals_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
{_CONTENT_DELTAS.format(rows=_REMOVED_ROWS)}
  RETURN NULL;
END
$$;

-- Fires for every UPDATE of contents (an edit of a title too): the first query finds whether any row
-- changed owner or category at all, which an edit's does not.
CREATE OR REPLACE FUNCTION learning_content_totals_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM {_MOVED}) THEN
    RETURN NULL;
  END IF;
{_CONTENT_DELTAS.format(rows=_MOVED_ROWS)}
  RETURN NULL;
END
$$;

CREATE TRIGGER learning_content_totals_added
AFTER INSERT ON learning_content
REFERENCING NEW TABLE AS new_contents
FOR EACH STATEMENT EXECUTE FUNCTION learning_content_totals_added();

CREATE TRIGGER learning_content_totals_removed
AFTER DELETE ON learning_content
REFERENCING OLD TABLE AS old_contents
FOR EACH STATEMENT EXECUTE FUNCTION learning_content_totals_removed();

CREATE TRIGGER learning_content_totals_moved
AFTER UPDATE ON learning_content
REFERENCING OLD TABLE AS old_contents NEW TABLE AS new_contents
FOR EACH STATEMENT EXECUTE FUNCTION learning_content_totals_moved();
"""

# Migrations 0006 and 0007's row-level triggers (their functions are still defined).
BACKWARD = r"""
DROP TRIGGER learning_content_totals_added ON learning_content;
DROP TRIGGER learning_content_totals_removed ON learning_content;
DROP TRIGGER learning_content_totals_moved ON learning_content;
DROP FUNCTION learning_content_totals_added();
DROP FUNCTION learning_content_totals_removed();
DROP FUNCTION learning_content_totals_moved();

CREATE TRIGGER learning_content_total
AFTER INSERT OR DELETE OR UPDATE OF user_id ON learning_content
FOR EACH ROW EXECUTE FUNCTION learning_content_total();

CREATE TRIGGER learning_category_total_added
AFTER INSERT ON learning_content
FOR EACH ROW WHEN (NEW.category_id IS NOT NULL)
EXECUTE FUNCTION learning_category_total();

CREATE TRIGGER learning_category_total_removed
AFTER DELETE ON learning_content
FOR EACH ROW WHEN (OLD.category_id IS NOT NULL)
EXECUTE FUNCTION learning_category_total();

CREATE TRIGGER learning_category_total_moved
AFTER UPDATE OF category_id, user_id ON learning_content
FOR EACH ROW WHEN (OLD.category_id IS DISTINCT FROM NEW.category_id OR OLD.user_id IS DISTINCT FROM NEW.user_id)
EXECUTE FUNCTION learning_category_total();

DROP TRIGGER learning_recall_groups_added ON learning_reviewschedule;
DROP TRIGGER learning_recall_groups_removed ON learning_reviewschedule;
DROP FUNCTION learning_recall_groups_added();
DROP FUNCTION learning_recall_groups_removed();
DROP TRIGGER learning_recall_group_of_schedule ON learning_reviewschedule;
CREATE TRIGGER learning_recall_group_of_schedule
AFTER INSERT OR DELETE OR UPDATE ON learning_reviewschedule
FOR EACH ROW EXECUTE FUNCTION learning_recall_group_of_schedule();
"""


def forward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):

    dependencies = [
        ("learning", "0010_recall_trigger_inline"),
    ]

    operations = [migrations.RunPython(forward, backward)]
