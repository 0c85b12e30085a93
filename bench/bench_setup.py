"""Prints what the load benchmark needs about the seeded data: an access token of the benchmarked
user (bench@resee.local) and, with --ids FILE, writes the ids of that user's contents (one a line)
for the completion scenario. Run with the bench environment: ``python bench/bench_setup.py``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402

from modules.identity import services as identity  # noqa: E402
from modules.learning import services as learning  # noqa: E402

BENCH_EMAIL = "bench@resee.local"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ids", type=Path, help="write the benchmarked user's content ids here")
    args = parser.parse_args()
    user = get_user_model().objects.select_related("subscription").get(email=BENCH_EMAIL)
    if args.ids:
        refs = learning.sibling_contents(user=user, exclude_content_id=None, limit=100_000)
        args.ids.write_text("".join(f"{ref.id}\n" for ref in refs))
    print(identity.issue_tokens(user).access)


if __name__ == "__main__":
    main()
