#!/usr/bin/env python
import os
import sys
from pathlib import Path

_OFF = {"0", "false", "no", "off"}


def load_development_env() -> None:
    """Hand-run commands in development read ``.env`` (``make run`` writes it: ``DEBUG=1`` and a
    generated ``SECRET_KEY``), so ``manage.py createsuperuser`` works without exporting anything.
    The environment always wins over the file, and the file is never read in production: the image has
    no ``.env`` (.dockerignore) and a process whose environment says ``DEBUG=0`` skips it."""
    path = Path(os.environ.get("RESEE_ENV_FILE") or Path(__file__).resolve().parent / ".env")
    if not path.is_file() or os.environ.get("DEBUG", "").strip().lower() in _OFF:
        return
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def main() -> None:
    load_development_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
