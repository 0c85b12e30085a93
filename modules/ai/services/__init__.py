"""The ai module's facade: the one door other modules and the module's router, admin and tasks use.

It is split by sub-domain: ``quota`` (who may use AI, the daily quota's reservations and today's
usage; its docstring explains the reservation protocol), ``calls`` (the provider and its request
log), ``generation`` (questions on one content, now), ``evaluation`` (grading answers, analysing
contents), ``jobs`` (generation over several contents on the queue), ``metrics`` (usage and cost for
ops and insights) and ``transfer`` (export and import of questions). ``__all__`` below is the list of
public names; anything else in the sub-modules is the ai module's own.
"""

from modules.ai.providers.base import QuestionType
from modules.ai.services.evaluation import analyze_content, evaluate_answer
from modules.ai.services.generation import GenerationResult, generate_questions, question_list
from modules.ai.services.jobs import (
    JobView,
    create_job,
    fail_stale_jobs,
    job_detail,
    prune_request_keys,
    retry_job,
    run_job,
)
from modules.ai.services.metrics import AIUsageTotals, cost_since, questions_and_cost_by_user, usage_totals
from modules.ai.services.quota import UsageDTO, usage_today
from modules.ai.services.transfer import QuestionRecord, export_questions, import_questions

__all__ = [
    "AIUsageTotals",
    "GenerationResult",
    "JobView",
    "QuestionRecord",
    "QuestionType",
    "UsageDTO",
    "analyze_content",
    "cost_since",
    "create_job",
    "evaluate_answer",
    "export_questions",
    "fail_stale_jobs",
    "generate_questions",
    "import_questions",
    "job_detail",
    "prune_request_keys",
    "question_list",
    "questions_and_cost_by_user",
    "retry_job",
    "run_job",
    "usage_today",
    "usage_totals",
]
