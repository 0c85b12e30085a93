"""The portability module's facade: a learner's data out (exports) and in (Anki, CSV, Resee exports).

Both run as jobs on the worker. An export streams the learner's data, section by section, into one file
under ``PORTABILITY_EXPORT_DIR`` (JSON, or a zip of CSV files) that a signed link serves for
``PORTABILITY_LINK_SECONDS`` (10 minutes) at a time, until the file is pruned
(``PORTABILITY_EXPORT_KEEP_HOURS``). An import is checked when it is uploaded (size, zip structure,
format: a 422 with a code, and nothing is stored), then read and written by the job in one transaction:
it imports everything or nothing. Progress inside that transaction is reported through the cache (a
row written there would only be visible at commit).

Other modules are reached through their facades only: identity (profile), learning (the bulk
``import_learning_data`` / ``export_*``), ai (questions).

The one door for the module's router, tasks and admin is this package; its rooms are ``exports``,
``imports``, ``files`` (directories, upload limits, pruning) and ``jobs`` (what both kinds of job
share). ``__all__`` below is the list of public names.
"""

from modules.portability.services.exports import (
    DownloadFile,
    ExportJobView,
    export_download,
    export_status,
    request_export,
    run_export,
)
from modules.portability.services.files import prune_files, upload_limit
from modules.portability.services.imports import (
    ImportJobView,
    ensure_import_room,
    import_status,
    request_import,
    run_import,
)
from modules.portability.services.jobs import instance_id

__all__ = [
    "DownloadFile",
    "ExportJobView",
    "ImportJobView",
    "ensure_import_room",
    "export_download",
    "export_status",
    "import_status",
    "instance_id",
    "prune_files",
    "request_export",
    "request_import",
    "run_export",
    "run_import",
    "upload_limit",
]
