"""The job class of the prediction queue: RQ's Job, its data compressed at zlib's fastest
level instead of its default one (what that saves: docs/benchmarks.md,
"Tried and not kept", the row of jobs stored uncompressed).

RQ compresses a job's data (function and arguments: a chunk's rows) each time it saves
the whole job: at enqueue, in the API, and at success, in the worker. zlib reads any
level back, so RQ's plain Job class (the dashboard, `rq info`) reads these jobs too."""
from typing import Any

from rq.job import Job

from . import rq_seams

ZLIB_LEVEL = 1


class PredictionJob(Job):
    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
        return rq_seams.job_dict_with_data(
            self, lambda: super(PredictionJob, self).to_dict(include_meta=include_meta,
                                                             include_result=include_result),
            ZLIB_LEVEL)
