"""Drops and recreates the benchmark database: ``python bench/prepare_db.py postgres://.../resee_bench``.
With ``--if-missing`` it only creates the database when it does not exist (keeping seeded data).

Refuses names that do not contain "bench", so a typo can never drop a real database.
"""

from __future__ import annotations

import sys
from urllib.parse import urlparse, urlunparse

import psycopg
from psycopg import sql


def main() -> None:
    if_missing = "--if-missing" in sys.argv[2:]
    url = urlparse(sys.argv[1])
    name = url.path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to recreate {name!r}: benchmark database names must contain 'bench'")
    admin = urlunparse(url._replace(path="/postgres", query=""))
    with psycopg.connect(admin, autocommit=True) as connection:
        if if_missing:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if exists:
                print(f"database {name} exists")
                return
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"recreated database {name}")


if __name__ == "__main__":
    main()
