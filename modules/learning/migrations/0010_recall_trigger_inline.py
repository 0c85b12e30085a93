"""The recall groups' trigger on the schedules, inlined (same rows, same order of the two groups).

Each review updates its card's schedule, and this trigger moves the card from its old recall group to
its new one. Written first (0006) as two ``PERFORM learning_recall_group_apply(...)`` calls and two
``learning_recall_anchor`` calls, it took 0.32 of the review statement's 0.76 ms (PostgreSQL's own
statement durations, the bench's review loop at two connections): every PERFORM and every SQL-function
call from PL/pgSQL runs its own small query. Here the anchor of a reviewed card is computed in place
(the same expression as ``learning_recall_anchor``; that function still answers for a card never
reviewed, whose anchor is its content's creation) and the two group writes are the function's own
statements, in the same order as before: 0.48-0.55 ms for the whole statement (docs/benchmarks.md,
session 18). ``learning_recall_group_apply`` stays for the content trigger.
"""

from django.db import migrations

INLINED = r"""
CREATE OR REPLACE FUNCTION learning_recall_group_of_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o_fsrs boolean;
  o_epoch double precision;
  n_fsrs boolean;
  n_epoch double precision;
  new_first boolean := false;
  k integer;
  g_user bigint;
  g_fsrs boolean;
  g_stage integer;
  g_epoch double precision;
  g_sign integer;
  d integer;
  o double precision;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    o_fsrs := OLD.scheduler = 'fsrs' AND OLD.stability IS NOT NULL AND OLD.difficulty IS NOT NULL;
    IF OLD.last_reviewed_at IS NOT NULL THEN
      o_epoch := CAST(EXTRACT(EPOCH FROM OLD.last_reviewed_at) AS double precision) / 86400.0;
    ELSE
      o_epoch := learning_recall_anchor(NULL, OLD.content_id);
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    n_fsrs := NEW.scheduler = 'fsrs' AND NEW.stability IS NOT NULL AND NEW.difficulty IS NOT NULL;
    IF NEW.last_reviewed_at IS NOT NULL THEN
      n_epoch := CAST(EXTRACT(EPOCH FROM NEW.last_reviewed_at) AS double precision) / 86400.0;
    ELSE
      n_epoch := learning_recall_anchor(NULL, NEW.content_id);
    END IF;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF OLD.user_id = NEW.user_id AND o_fsrs = n_fsrs AND OLD.stage = NEW.stage
       AND o_epoch IS NOT DISTINCT FROM n_epoch THEN
      RETURN NULL;
    END IF;
    -- the two groups in one order whatever the change: two writers never wait for each other crosswise
    new_first := (NEW.user_id, n_fsrs, NEW.stage, floor(n_epoch)) < (OLD.user_id, o_fsrs, OLD.stage, floor(o_epoch));
  END IF;
  FOR k IN 1..2 LOOP
    IF (k = 1) = new_first THEN
      CONTINUE WHEN TG_OP = 'DELETE';
      g_user := NEW.user_id; g_fsrs := n_fsrs; g_stage := NEW.stage; g_epoch := n_epoch; g_sign := 1;
    ELSE
      CONTINUE WHEN TG_OP = 'INSERT';
      g_user := OLD.user_id; g_fsrs := o_fsrs; g_stage := OLD.stage; g_epoch := o_epoch; g_sign := -1;
    END IF;
    CONTINUE WHEN g_epoch IS NULL;
    d := floor(g_epoch);
    o := g_epoch - d;
    IF g_sign > 0 THEN
      INSERT INTO learning_recallgroup (user_id, fsrs, stage, day, cards, offset_sum, offset_square_sum, anchor_max)
      VALUES (g_user, g_fsrs, g_stage, d, 1, o, o * o, g_epoch)
      ON CONFLICT (user_id, fsrs, stage, day) DO UPDATE SET
        cards = learning_recallgroup.cards + 1,
        offset_sum = learning_recallgroup.offset_sum + EXCLUDED.offset_sum,
        offset_square_sum = learning_recallgroup.offset_square_sum + EXCLUDED.offset_square_sum,
        anchor_max = GREATEST(learning_recallgroup.anchor_max, EXCLUDED.anchor_max);
    ELSE
      DELETE FROM learning_recallgroup
       WHERE user_id = g_user AND fsrs = g_fsrs AND stage = g_stage AND day = d AND cards <= 1;
      IF NOT FOUND THEN
        UPDATE learning_recallgroup
           SET cards = cards - 1, offset_sum = offset_sum - o, offset_square_sum = offset_square_sum - o * o
         WHERE user_id = g_user AND fsrs = g_fsrs AND stage = g_stage AND day = d;
      END IF;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
"""

ORIGINAL = r"""
CREATE OR REPLACE FUNCTION learning_recall_group_of_schedule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  o_fsrs boolean;
  o_epoch double precision;
  n_fsrs boolean;
  n_epoch double precision;
BEGIN
  IF TG_OP <> 'INSERT' THEN
    o_fsrs := OLD.scheduler = 'fsrs' AND OLD.stability IS NOT NULL AND OLD.difficulty IS NOT NULL;
    o_epoch := learning_recall_anchor(OLD.last_reviewed_at, OLD.content_id);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    n_fsrs := NEW.scheduler = 'fsrs' AND NEW.stability IS NOT NULL AND NEW.difficulty IS NOT NULL;
    n_epoch := learning_recall_anchor(NEW.last_reviewed_at, NEW.content_id);
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF OLD.user_id = NEW.user_id AND o_fsrs = n_fsrs AND OLD.stage = NEW.stage
       AND o_epoch IS NOT DISTINCT FROM n_epoch THEN
      RETURN NULL;
    END IF;
    -- the two groups in one order whatever the change: two writers never wait for each other crosswise
    IF (NEW.user_id, n_fsrs, NEW.stage, floor(n_epoch)) < (OLD.user_id, o_fsrs, OLD.stage, floor(o_epoch)) THEN
      PERFORM learning_recall_group_apply(NEW.user_id, n_fsrs, NEW.stage, n_epoch, 1);
      PERFORM learning_recall_group_apply(OLD.user_id, o_fsrs, OLD.stage, o_epoch, -1);
      RETURN NULL;
    END IF;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    PERFORM learning_recall_group_apply(OLD.user_id, o_fsrs, OLD.stage, o_epoch, -1);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    PERFORM learning_recall_group_apply(NEW.user_id, n_fsrs, NEW.stage, n_epoch, 1);
  END IF;
  RETURN NULL;
END
$$;
"""


def inline(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INLINED)


def restore(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(ORIGINAL)


class Migration(migrations.Migration):

    dependencies = [
        ("learning", "0009_redundant_fk_indexes"),
    ]

    operations = [migrations.RunPython(inline, restore)]
