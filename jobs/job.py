"""The job class of the prediction queue: RQ's Job, its data compressed at zlib's fastest
level.

RQ zlib-compresses a job's data (function, arguments) at zlib's default level each time
it saves the whole job: when it is enqueued, by the API, and when it succeeds, by the
worker. A prediction job's arguments are a chunk's rows of floats: at the default level
a 500-row chunk of 30 features took 6.5 ms (breast_cancer's own rows, 150 kB to 60 kB) to
16 ms (random floats, to 122 kB) a save on this machine, a tenth of the API's CPU for a
bulk POST. The fastest level takes a third to a quarter of that for nearly the same size
(67 kB, 122 kB). Stored uncompressed the data would cost nothing to save, but Redis
would hold 2.5 times (breast_cancer) to 9 times (iris) more while a large file's jobs
wait. Any zlib level reads back the same: RQ's workers, the dashboard and `rq info`
read these jobs with the plain Job class too."""
import zlib

from rq.job import Job

LEVEL = 1


class PredictionJob(Job):
    def to_dict(self, include_meta=True, include_result=True):
        data = self.data
        self._data = b""  # what RQ compresses: nothing; the arguments stay as they were
        try:
            fields = super().to_dict(include_meta=include_meta, include_result=include_result)
        finally:
            self._data = data
        fields["data"] = zlib.compress(data, LEVEL)
        return fields
