"""Serverless background work: run every due schedule once, drain the queue once, exit.

For platforms without a long-running worker: trigger ``manage.py tick`` every minute from the
platform's cron. It uses Django-Q2's own pieces: ``django_q.scheduler.scheduler`` turns due schedules
into queued tasks (``select_for_update``, so two ticks never fire a schedule twice, and
``next_run`` advances), then the queued tasks are pulled from the broker and run in this process
through Django-Q2's ``worker`` and ``monitor`` (results saved, ORM deliveries acknowledged).
"""

from __future__ import annotations

from multiprocessing import Value
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.monitor import monitor
from django_q.queues import Queue
from django_q.scheduler import scheduler
from django_q.signing import BadSignature, SignedPackage
from django_q.worker import worker


def drain(broker: Broker, *, max_tasks: int) -> int:
    """Run up to ``max_tasks`` queued tasks in this process; answers how many ran."""
    ran = 0
    while ran < max_tasks and broker.queue_size():
        task_set = broker.dequeue() or []
        if not task_set:
            break
        for ack_id, payload in task_set:
            try:
                task = SignedPackage.loads(payload)
            except (TypeError, BadSignature):
                broker.fail(ack_id)
                continue
            task["cluster"] = Conf.CLUSTER_NAME
            task["ack_id"] = ack_id
            _run(task, broker)
            ran += 1
    return ran


def _run(task: dict, broker: Broker) -> None:
    task_queue: Queue = Queue()
    result_queue: Queue = Queue()
    task_queue.put(task)
    task_queue.put("STOP")
    worker(task_queue, result_queue, Value("f", -1))
    result_queue.put("STOP")
    monitor(result_queue, broker)
    for queue in (task_queue, result_queue):
        queue.close()
        queue.join_thread()


class Command(BaseCommand):
    help = "Run every due Django-Q2 schedule once and drain the queued tasks once, then exit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--max-tasks", type=int, default=500, help="stop draining after this many tasks (default 500)"
        )

    def handle(self, *args: Any, max_tasks: int, **options: Any) -> None:
        broker = get_broker()
        scheduler(broker=broker)
        ran = drain(broker, max_tasks=max_tasks)
        self.stdout.write(f"tick: schedules checked, {ran} queued tasks run")
