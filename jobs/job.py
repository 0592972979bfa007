"""The job class of the prediction queue: RQ's Job, its data compressed at zlib's fastest
level instead of its default one.

RQ compresses a job's data (function and arguments) each time it saves the whole job:
at enqueue, in the API, and at success, in the worker. A prediction job's arguments are
a chunk's rows: for 500 rows of 30 features a save took 6.5 ms at the default level
(breast_cancer's own rows, 150 kB to 60 kB; random floats 16 ms) and takes 2.1 ms at the
fastest (67 kB; random floats 3.7 ms) on this machine. Stored raw, Redis would hold 2.5
(breast_cancer) to 9 (iris) times more while a large file's jobs wait. zlib reads any
level back, so RQ's plain Job class (the dashboard, `rq info`) reads these jobs too."""
import zlib

from rq.job import Job

ZLIB_LEVEL = 1


class PredictionJob(Job):
    def to_dict(self, include_meta=True, include_result=True):
        data = self.data
        self._data = b""  # RQ's to_dict compresses this at its own level: give it nothing
        try:
            fields = super().to_dict(include_meta=include_meta, include_result=include_result)
        finally:
            self._data = data
        fields["data"] = zlib.compress(data, ZLIB_LEVEL)
        return fields
