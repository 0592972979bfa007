"""The job class of the prediction queue: RQ's Job, its data stored uncompressed.

RQ zlib-compresses a job's data (function, arguments) each time it saves the whole job:
when it is enqueued, by the API, and when it succeeds, by the worker. A prediction job's
arguments are a chunk's rows of floats, which zlib hardly shrinks (a 500-row chunk of 30
features: 150 kB to 122 kB) at 18 ms a save on this machine, about a tenth of the API's
CPU for a bulk POST. Stored as it is, the data reads back the same: Job.restore takes
data that zlib refuses (a pickle never starts with a zlib header) as it is, so RQ's
workers, the dashboard and `rq info` read these jobs with the plain Job class too."""
from rq.job import Job


class PredictionJob(Job):
    def to_dict(self, include_meta=True, include_result=True):
        data = self.data
        self._data = b""  # what RQ compresses: nothing; the arguments stay as they were
        try:
            fields = super().to_dict(include_meta=include_meta, include_result=include_result)
        finally:
            self._data = data
        fields["data"] = data
        return fields
