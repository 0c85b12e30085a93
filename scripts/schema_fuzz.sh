#!/usr/bin/env bash
# Schema-conformance fuzzing of the live API with schemathesis (issue 14): every answer must be a
# status the operation declares, with a body valid against the declared schema and the declared
# media type. Runs gunicorn the way the image does (DEBUG off, throttles off) on a free port against
# its own database, then fuzzes every operation twice: as a FREE verified learner and as a PRO admin.
#
#   scripts/schema_fuzz.sh                       # or: make fuzz
#   FUZZ_MAX_EXAMPLES=200 scripts/schema_fuzz.sh # more cases per operation (default 50)
#
# Environment: FUZZ_DATABASE_URL (recreated; default postgres://postgres@127.0.0.1:5432/resee_fuzz),
# FUZZ_REDIS_URL (default redis://127.0.0.1:6379/0, keys under a fresh prefix), FUZZ_MAX_EXAMPLES,
# FUZZ_SEED (default 14), FUZZ_WORKERS (default 1: one worker keeps a seeded run reproducible, and
# Hypothesis 6's lambda-source cache is not thread-safe), FUZZ_REPORT_DIR (default var/schema-fuzz: the
# JUnit reports and the server log). Extra arguments go to both schemathesis runs. Exits non-zero when
# a run finds a failure or an error.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
SCHEMATHESIS="$ROOT/.venv/bin/schemathesis"
DATABASE_URL=${FUZZ_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/resee_fuzz}
REDIS_URL=${FUZZ_REDIS_URL:-redis://127.0.0.1:6379/0}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-50}
SEED=${FUZZ_SEED:-14}
WORKERS=${FUZZ_WORKERS:-1}
REPORT_DIR=${FUZZ_REPORT_DIR:-$ROOT/var/schema-fuzz}
CHECKS=status_code_conformance,response_schema_conformance,content_type_conformance

mkdir -p "$REPORT_DIR"
WORKDIR=$(mktemp -d)
PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

export DEBUG=0 SECRET_KEY="schema-fuzz-$(date +%s)-not-a-secret" ALLOWED_HOSTS=127.0.0.1,localhost \
  SECURE_SSL_REDIRECT=0 DATABASE_URL REDIS_URL CACHE_KEY_PREFIX="fuzz-$$-$RANDOM" THROTTLES_ENABLED=0 \
  AI_PROVIDER=local EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend \
  EMAIL_FILE_PATH="$WORKDIR/mail" SITE_URL="http://127.0.0.1:$PORT" LOG_LEVEL=WARNING \
  PORTABILITY_EXPORT_DIR="$WORKDIR/exports" PORTABILITY_UPLOAD_DIR="$WORKDIR/imports" PYTHONUNBUFFERED=1 PATH="$ROOT/.venv/bin:$PATH"

WEB_PID=""
cleanup() {
  if [ -n "$WEB_PID" ] && kill -0 "$WEB_PID" 2>/dev/null; then
    kill -TERM "$WEB_PID" && wait "$WEB_PID" 2>/dev/null || true
  fi
  rm -rf "$WORKDIR"
}
trap cleanup EXIT

echo "database $DATABASE_URL (recreated), server http://127.0.0.1:$PORT"
"$PY" - "$DATABASE_URL" <<'PYTHON'
import sys
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

url = urlsplit(sys.argv[1])
name = url.path.lstrip("/")
with psycopg.connect(urlunsplit(url._replace(path="/postgres")), autocommit=True) as connection:
    connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
PYTHON
"$PY" manage.py migrate --noinput -v 0

# Two accounts with a little data each; their access tokens (60 minutes) outlive the runs.
TOKENS=$("$PY" manage.py shell -c '
from modules.identity.services import issue_tokens
from modules.identity.testing import make_user
from modules.learning.testing import make_content

free = make_user(email="free@fuzz.example", tier="FREE", verified=True)
admin = make_user(email="admin@fuzz.example", tier="PRO", verified=True, is_staff=True)
for user in (free, admin):
    for index in range(3):
        make_content(user=user, title=f"Fuzz {index}")
print(issue_tokens(free).access, issue_tokens(admin).access)
')
read -r FREE_TOKEN ADMIN_TOKEN <<<"$(echo "$TOKENS" | tail -1)"

PORT=$PORT WEB_CONCURRENCY=2 sh docker/entrypoint.sh web --graceful-timeout 5 >"$REPORT_DIR/server.log" 2>&1 &
WEB_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/api/v1/health/live/" >/dev/null && break
  sleep 0.2
done

status=0
for who in free admin; do
  token=$FREE_TOKEN
  [ "$who" = admin ] && token=$ADMIN_TOKEN
  echo "=== schemathesis as the $who user"
  "$SCHEMATHESIS" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --url "http://127.0.0.1:$PORT" \
    --checks "$CHECKS" \
    --header "Authorization: Bearer $token" \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers "$WORKERS" \
    --report junit --report-junit-path "$REPORT_DIR/$who.xml" \
    "$@" || status=1
done
exit $status
