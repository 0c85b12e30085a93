#!/bin/sh
# The image's roles. Every command reads only the environment (README, Configuration).
#   web      gunicorn serving the API (WEB_CONCURRENCY workers, PORT)
#   worker   the Django-Q2 cluster
#   release  migrations + schedules: run once per deploy before web and worker start
#   tick     serverless background work: run due schedules and drain the queue once, then exit
#   *        anything else is run as given (e.g. `manage.py createsuperuser`)
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
  web)
    exec gunicorn config.wsgi:application \
      --bind "0.0.0.0:${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" \
      --worker-class "${GUNICORN_WORKER_CLASS:-sync}" \
      --timeout "${GUNICORN_TIMEOUT:-30}" \
      --error-logfile - \
      --no-control-socket \
      --logger-class config.gunicorn_logger.RedactingLogger "$@"
    ;;
  worker)
    exec python manage.py qcluster "$@"
    ;;
  release)
    python manage.py migrate --noinput
    exec python manage.py setup_schedules
    ;;
  tick)
    exec python manage.py tick "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
