"""The database router when DATABASE_REPLICA_URL is set (see modules/common/db.py and docs/ops.md,
"Read replica").

Writes go to the primary and pin the rest of their unit of work to it. Reads go to the primary too,
unless a service marked them lag-tolerant (``modules.common.db.replica_reads``) and the replica has
replayed everything their reader wrote. Migrations run on the primary only; the replica follows.
"""

from __future__ import annotations

from typing import Any

from modules.common import db


class LagAwareReplicaRouter:
    def db_for_read(self, model: type, **hints: Any) -> str:
        return db.read_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        db.note_write()
        return db.PRIMARY

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True  # one database and its copy

    def allow_migrate(
        self, db_alias: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return db_alias == db.PRIMARY
