"""The compiled-query shortcut answers exactly what the ORM answers, for new arguments every call."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Count, QuerySet, Window
from django.utils import timezone

from modules.common import compiled
from modules.common.compiled import fetch_rows
from modules.identity.models import User
from modules.identity.testing import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache(settings) -> None:
    settings.COMPILED_QUERIES = True  # these tests are about the shortcut, whatever the run's setting
    compiled.clear_cache()


def _joined_since(*, since: Any, first_name: str) -> QuerySet:
    return (
        User.objects.filter(date_joined__gte=since, first_name=first_name, is_active=True)
        .annotate(total=Window(Count("id")))
        .order_by("email")
        .values_list("id", "email", "date_joined", "total")
    )


def test_rebinds_new_arguments_into_the_compiled_sql_and_matches_the_orm() -> None:
    now = timezone.now()
    old = make_user(email="old@a.test", first_name="A")
    User.objects.filter(pk=old.pk).update(date_joined=now - timedelta(days=10))
    for name in ("b", "c", "d"):
        make_user(email=f"{name}@a.test", first_name="A")
    make_user(email="x@b.test", first_name="B")

    for since, name in (
        (now - timedelta(days=1), "A"),
        (now - timedelta(days=30), "A"),
        (now - timedelta(days=30), "B"),
    ):
        args = {"since": since, "first_name": name}
        fast = fetch_rows(_joined_since, shape="test.joined", args=args)
        assert fast == [tuple(row) for row in _joined_since(**args)]
    assert isinstance(compiled._cache["test.joined"], compiled._Compiled)
    assert [
        row[1]
        for row in fetch_rows(
            _joined_since, shape="test.joined", args={"since": now - timedelta(days=1), "first_name": "A"}
        )
    ] == ["b@a.test", "c@a.test", "d@a.test"]


def test_window_counts_come_back_converted_and_pages_slice_like_the_orm() -> None:
    for name in "abcde":
        make_user(email=f"{name}@page.test", first_name="P")
    args = {"since": timezone.now() - timedelta(days=1), "first_name": "P"}
    page = fetch_rows(_joined_since, shape="test.page", args=args, limit=2, offset=1)
    assert page == [tuple(row) for row in _joined_since(**args)[1:3]]
    assert [row[-1] for row in page] == [5, 5]
    assert isinstance(page[0][-1], int)
    assert fetch_rows(_joined_since, shape="test.page", args=args, offset=4) == [
        tuple(row) for row in _joined_since(**args)[4:]
    ]


def _email_contains(*, fragment: str) -> QuerySet:
    return User.objects.filter(email__icontains=fragment).order_by("id").values_list("email")


def test_an_argument_transformed_by_a_lookup_falls_back_to_the_orm() -> None:
    make_user(email="needle@hay.test")
    make_user(email="other@hay.test")
    rows = fetch_rows(_email_contains, shape="test.contains", args={"fragment": "NEEDLE"})
    assert rows == [("needle@hay.test",)]
    assert compiled._cache["test.contains"] is compiled._UNSUPPORTED
    assert fetch_rows(_email_contains, shape="test.contains", args={"fragment": "other"}) == [
        ("other@hay.test",)
    ]


def test_boolean_arguments_are_not_guessed() -> None:
    user = make_user(email="flag@x.test")

    def by_flag(*, active: bool) -> QuerySet:
        return User.objects.filter(pk=user.pk, is_active=active).values_list("email")

    assert fetch_rows(by_flag, shape="test.flag", args={"active": True}) == [("flag@x.test",)]
    assert fetch_rows(by_flag, shape="test.flag", args={"active": False}) == []
    assert compiled._cache["test.flag"] is compiled._UNSUPPORTED


def test_the_authenticated_user_lookup_loads_the_subscription_like_select_related(
    django_assert_num_queries,
) -> None:
    from modules.identity.selectors import active_user_with_subscription

    user = make_user(tier="PRO")
    with django_assert_num_queries(1):
        loaded = active_user_with_subscription(user_id=user.pk)
        assert loaded is not None
        assert loaded.subscription.tier == "PRO"
        assert loaded.subscription.user is loaded
    reference = User.objects.select_related("subscription").get(pk=user.pk)
    assert {f.attname: getattr(loaded, f.attname) for f in User._meta.concrete_fields} == {
        f.attname: getattr(reference, f.attname) for f in User._meta.concrete_fields
    }
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert active_user_with_subscription(user_id=user.pk) is None


def test_a_user_without_subscription_reads_as_missing_relation() -> None:
    from modules.identity.models import Subscription
    from modules.identity.selectors import active_user_with_subscription

    user = make_user()
    Subscription.objects.filter(user=user).delete()
    loaded = active_user_with_subscription(user_id=user.pk)
    assert loaded is not None
    with pytest.raises(Subscription.DoesNotExist):
        _ = loaded.subscription


def test_a_constant_that_equals_a_sentinel_is_never_taken_for_the_argument() -> None:
    user = make_user(email="constant@x.test")
    first_sentinel = compiled._sentinel(user.pk, 0, 0)

    def others(*, user_id: int) -> QuerySet:
        return User.objects.filter(pk=user_id).exclude(pk=first_sentinel).values_list("email")

    assert fetch_rows(others, shape="test.constant", args={"user_id": user.pk}) == [("constant@x.test",)]
    shape = compiled._cache["test.constant"]
    assert isinstance(shape, compiled._Compiled)
    assert shape.params == ((True, "user_id"), (False, first_sentinel))


def test_arguments_of_another_type_than_compiled_run_through_the_orm(django_assert_num_queries) -> None:
    now = timezone.now()
    make_user(email="typed@x.test", first_name="T")
    args = {"since": now - timedelta(days=1), "first_name": "T"}
    assert len(fetch_rows(_joined_since, shape="test.typed", args=args)) == 1
    shape = compiled._cache["test.typed"]
    assert isinstance(shape, compiled._Compiled)

    naive = {"since": timezone.make_naive(now - timedelta(days=1)), "first_name": "T"}
    assert not shape.accepts(naive)
    assert not shape.accepts({"since": now, "first_name": 7})
    assert not shape.accepts({"since": now})
    with pytest.warns(RuntimeWarning):  # Django's own warning about a naive datetime: the ORM ran
        rows = fetch_rows(_joined_since, shape="test.typed", args=naive)
    assert [row[1] for row in rows] == ["typed@x.test"]


def test_an_argument_that_may_change_the_sql_is_not_compiled() -> None:
    make_user(email="nameless@x.test", first_name="")

    def named(*, first_name: str | None) -> QuerySet:
        return User.objects.filter(first_name=first_name).values_list("email")  # None: IS NULL

    assert fetch_rows(named, shape="test.none", args={"first_name": None}) == []
    assert compiled._cache["test.none"] is compiled._UNSUPPORTED
    assert fetch_rows(named, shape="test.none", args={"first_name": ""}) == [("nameless@x.test",)]


def test_the_shortcut_can_be_turned_off(settings, django_assert_num_queries) -> None:
    from modules.identity.selectors import active_user_with_subscription

    settings.COMPILED_QUERIES = False
    user = make_user(tier="PRO", email="off@x.test")
    args = {"since": timezone.now() - timedelta(days=1), "first_name": ""}

    assert [row[1] for row in fetch_rows(_joined_since, shape="test.off", args=args)] == ["off@x.test"]
    assert "test.off" not in compiled._cache
    with django_assert_num_queries(1):
        loaded = active_user_with_subscription(user_id=user.pk)
        assert loaded is not None and loaded.subscription.tier == "PRO"
    assert "identity.active_user" not in compiled._cache


# --- prepared statements ------------------------------------------------------------------------------


def _prepared_statements_like(text: str) -> list[str]:
    """The statements this connection has prepared whose text contains ``text`` (pg_prepared_statements
    is per session: the test's own connection)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{text}%"])
        return [row[0] for row in cursor.fetchall()]


def test_a_compiled_shape_is_prepared_once_per_connection_and_reused(settings) -> None:
    settings.DATABASE_PREPARED_STATEMENTS = True
    for name in ("a", "b"):
        make_user(email=f"{name}@p.test", first_name="Prepared")
    since = timezone.now() - timedelta(days=1)
    assert _prepared_statements_like("first_name") == []
    for _ in range(3):
        rows = fetch_rows(
            _joined_since, shape="test.prepared", args={"since": since, "first_name": "Prepared"}
        )
        assert [row[1] for row in rows] == ["a@p.test", "b@p.test"]
    statements = _prepared_statements_like('"identity_user"."first_name" = $')
    assert len(statements) == 1  # one statement for three calls: parsed and planned once
    # a new value is bound into the same statement, it is not a new one
    assert (
        fetch_rows(_joined_since, shape="test.prepared", args={"since": since, "first_name": "nobody"}) == []
    )
    assert _prepared_statements_like('"identity_user"."first_name" = $') == statements


def test_prepared_statements_off_prepare_nothing_and_answer_the_same(settings) -> None:
    settings.DATABASE_PREPARED_STATEMENTS = False
    make_user(email="a@q.test", first_name="Unprepared")
    since = timezone.now() - timedelta(days=1)
    rows = fetch_rows(
        _joined_since, shape="test.unprepared", args={"since": since, "first_name": "Unprepared"}
    )
    assert [row[1] for row in rows] == ["a@q.test"]
    assert _prepared_statements_like("first_name") == []


def test_prepared_statements_are_counted_and_fail_as_django_errors(
    settings, django_assert_num_queries
) -> None:
    from django.db import DatabaseError, connection

    settings.DATABASE_PREPARED_STATEMENTS = True
    since = timezone.now() - timedelta(days=1)
    with django_assert_num_queries(2):  # the query-count tests see prepared statements
        fetch_rows(_joined_since, shape="test.counted", args={"since": since, "first_name": "x"})
        fetch_rows(_joined_since, shape="test.counted", args={"since": since, "first_name": "y"})
    with pytest.raises(DatabaseError), compiled.prepared_cursor(connection) as cursor:
        cursor.execute("SELECT no_such_column FROM identity_user WHERE id = %s", [1])


def test_the_test_connection_keeps_one_generic_plan_per_prepared_statement() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)
    assert connection.connection.prepare_threshold == compiled.PREPARE_THRESHOLD


def test_placeholders_become_postgresql_s_own_once_per_text() -> None:
    converted = compiled.native_placeholders("SELECT %s, '100%%', %s FROM t WHERE a = %s")
    assert converted == "SELECT $1, '100%', $2 FROM t WHERE a = $3"
    assert compiled.native_placeholders("SELECT 1") == "SELECT 1"


def test_a_statement_of_more_parameters_than_psycopg_caches_runs_prepared_with_repeated_values() -> None:
    """62 parameters, like the review's statement: psycopg would convert its text on every call."""
    from django.db import connection

    values = list(range(62))
    sql = "SELECT " + " + ".join(["%s::int"] * 62) + " WHERE '50%%' LIKE '%%'"
    for _ in range(2):
        with compiled.prepared_cursor(connection) as cursor:
            cursor.execute(sql, values)
            assert cursor.fetchone() == (sum(values),)
    assert len(_prepared_statements_like("$62::int")) == 1
