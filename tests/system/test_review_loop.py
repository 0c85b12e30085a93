"""The review loop through the deployed processes (gunicorn's two workers, PostgreSQL, Redis): after
every answer, whichever worker serves the next read of today's queue, the answered card is gone and
the counts are right — also when two devices of one learner answer at the same moment. The read
after an answer is patched in the shared cache (modules/learning/readcache.py), not recomputed: this
checks it from outside, against the database's own answer.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.system.stack import running

pytestmark = pytest.mark.system

PASSWORD = "a-long-passphrase-1"
DUE_LEARNER = """
from modules.identity.testing import make_user
from modules.learning.testing import make_due_content
user = make_user(email={email!r}, password={password!r}, tier="PRO")
for index in range({due}):
    make_due_content(user=user, title=f"card {{index}}", overdue_days=index % 3)
"""
FRESH_QUEUE = """
import json
from modules.identity.models import User
from modules.learning import services
queue = services.review_queue(user=User.objects.get(email={email!r}), limit=20)
print(json.dumps([queue.count, queue.overdue_count, [item.content.id for item in queue.items]]))
"""


def test_every_read_after_an_answer_matches_the_database_across_workers(stack_factory) -> None:
    stack = stack_factory()
    email = f"loop-{uuid.uuid4().hex[:6]}@example.com"
    stack.shell(DUE_LEARNER.format(email=email, password=PASSWORD, due=45))
    with running(stack, worker=False):
        access = stack.login(email, PASSWORD)

        def fresh() -> list[Any]:
            import json

            return list(json.loads(stack.shell(FRESH_QUEUE.format(email=email)).strip().splitlines()[-1]))

        def read(http: Any) -> list[Any]:
            page = http.get("/api/review/today/")
            assert page.status_code == 200, page.text
            body = page.json()
            return [body["count"], body["overdue_count"], [item["content"]["id"] for item in body["items"]]]

        def answer(http: Any, content_id: int) -> None:
            done = http.post(
                "/api/review/complete/",
                json={"content_id": content_id, "result": "remembered"},
                headers={"Idempotency-Key": uuid.uuid4().hex},
            )
            assert done.status_code == 200, done.text

        with stack.client(access) as http, stack.client(access) as other:
            assert read(http) == fresh()
            for _ in range(24):  # more answers than the cached window's spare items
                before = read(http)
                answer(http, before[2][0])
                after = read(other)  # a new connection: either worker
                assert before[2][0] not in after[2]
                assert after[0] == before[0] - 1
                assert after == fresh()
            # two devices answer at once: the next read shows both answers
            first, second = read(http)[2][:2]
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda pair: answer(*pair), [(http, first), (other, second)]))
            after = read(http)
            assert first not in after[2] and second not in after[2]
            assert after == fresh()
    assert "Traceback" not in stack.web_log.read_text()
