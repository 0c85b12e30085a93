"""The learning module's facade: the one door other modules, the module's routers, admin, tasks and
commands use. The sub-modules are its rooms, split by sub-domain; import from this package, never from
them. ``__all__`` below is the list of public names.

Every write is one transaction; the review completion locks the card's schedule row. Every write of a
user's learning data is declared ``@readcache.learning_write``: the user's cached reads are dropped
when it ends.
"""

from modules.learning.services.analytics import (
    CategoryReviewStats,
    DayReviewCounts,
    LearningTotals,
    ResultCounts,
    category_review_counts,
    count_active_reviewers,
    count_overdue,
    count_reviews,
    due_counts_by_local_day,
    learning_totals,
    review_activity_by_user,
    review_counts_by_local_day,
    reviewer_ids,
)
from modules.learning.services.cached_reads import cached_read, forget_cached_reads
from modules.learning.services.categories import (
    CategoryView,
    category_list,
    category_slug,
    create_category,
    delete_category,
    update_category,
)
from modules.learning.services.contents import (
    CategoryRef,
    ContentRef,
    ContentView,
    ReviewState,
    content_detail,
    content_list,
    contents_for_user,
    create_content,
    delete_content,
    ensure_schedule,
    get_content,
    hold_content,
    sibling_contents,
    update_content,
)
from modules.learning.services.demo import seed_demo_content
from modules.learning.services.queue import (
    ForecastDay,
    Queue,
    QueueContent,
    QueueItem,
    forecast,
    review_history,
    review_queue,
)
from modules.learning.services.recall import ElapsedBucketStats, mean_recall, review_counts_by_elapsed
from modules.learning.services.reminders import send_review_reminders
from modules.learning.services.reviews import (
    MAX_REVIEWED_AT_AGE,
    ReviewOutcome,
    complete_review,
    prune_idempotency_records,
)
from modules.learning.services.schedulers import ladder_for

__all__ = [
    "MAX_REVIEWED_AT_AGE",
    "CategoryRef",
    "CategoryReviewStats",
    "CategoryView",
    "ContentRef",
    "ContentView",
    "DayReviewCounts",
    "ElapsedBucketStats",
    "ForecastDay",
    "LearningTotals",
    "Queue",
    "QueueContent",
    "QueueItem",
    "ResultCounts",
    "ReviewOutcome",
    "ReviewState",
    "cached_read",
    "category_list",
    "category_review_counts",
    "category_slug",
    "complete_review",
    "content_detail",
    "content_list",
    "contents_for_user",
    "count_active_reviewers",
    "count_overdue",
    "count_reviews",
    "create_category",
    "create_content",
    "delete_category",
    "delete_content",
    "due_counts_by_local_day",
    "ensure_schedule",
    "forecast",
    "forget_cached_reads",
    "get_content",
    "hold_content",
    "ladder_for",
    "learning_totals",
    "mean_recall",
    "prune_idempotency_records",
    "review_activity_by_user",
    "review_counts_by_elapsed",
    "review_counts_by_local_day",
    "review_history",
    "review_queue",
    "reviewer_ids",
    "seed_demo_content",
    "send_review_reminders",
    "sibling_contents",
    "update_category",
    "update_content",
]
