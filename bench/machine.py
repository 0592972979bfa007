"""What the figures were measured on, recorded next to them."""
import os
import platform
import subprocess
from datetime import datetime, timezone
from importlib.metadata import version

import psutil


def server_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def describe(stack):
    database = stack.database.argv[0] if stack.database else "external (MONGO_URI)"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        # the machine is shared: what else ran, as the run began
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": {name: version(name) for name in
                     ("scikit-learn", "numpy", "rq", "redis", "eve", "pymongo", "gunicorn")},
        "redis_server": server_version([stack.redis.argv[0], "--version"]) if stack.redis
        else "external (REDIS_URL)",
        "database": server_version([database, "--version"]) if stack.database else database,
    }


class CpuMeter:
    """CPU seconds used by each process between entering and leaving the block (with its
    children for the names in `trees`, e.g. gunicorn's workers): shows which part of the
    stack is busy when the cores are full."""

    def __init__(self, processes, trees=("api",)):
        self.processes, self.trees = processes, trees  # {name: pid}

    def sample(self):
        used = {}
        for name, pid in self.processes.items():
            try:
                root = psutil.Process(pid)
                tree = [root, *(root.children(recursive=True) if name in self.trees else [])]
            except psutil.NoSuchProcess:
                continue
            total = 0.0
            for process in tree:
                try:
                    times = process.cpu_times()
                    total += times.user + times.system
                except psutil.NoSuchProcess:
                    pass
            used[name] = total
        return used

    def __enter__(self):
        self.before, self.after = self.sample(), None
        return self

    def stop(self):
        """Stop counting before the block ends (its reading back of results is not the
        service's work)."""
        self.after = self.sample()

    def __exit__(self, *exc):
        after = self.after or self.sample()
        self.used = {name: round(after[name] - self.before.get(name, 0.0), 2)
                     for name in after}


def stack_meter(stack):
    """CpuMeter of the API (its gunicorn workers too), each worker, the database, Redis."""
    return CpuMeter({"api": stack.api.process.pid, "database": stack.database.process.pid,
                     "redis": stack.redis.process.pid,
                     **{worker.name: worker.process.pid for worker in stack.workers}})


def by_part(used):
    """stack_meter's seconds by part of the stack, the workers summed."""
    return {"api": used["api"], "database": used["database"], "redis": used["redis"],
            "workers": sum(seconds for name, seconds in used.items() if "worker" in name)}


def stack_processes(stack):
    """Every process of the stack by name: the API (its gunicorn workers counted with
    it), the database, Redis, the result cache's Redis, each worker and the callback
    worker; those it started and that run now."""
    processes = {"api": stack.api.process.pid}
    for name in ("database", "redis", "cache"):
        service = getattr(stack, name, None)
        if service is not None and service.alive():
            processes[name] = service.process.pid
    for worker in [*stack.workers, stack.callback_worker]:
        if worker.alive():
            processes[worker.name] = worker.process.pid
    return processes


def ms_per_row(used, rows):
    """CpuMeter's seconds as ms per row, each worker's summed under `workers`; other
    names (the database, the naive endpoint, the bench client) as they are."""
    parts = {}
    for name, seconds in used.items():
        part = "workers" if "worker" in name else name
        parts[part] = parts.get(part, 0.0) + seconds
    return {part: round(seconds / rows * 1000, 3) for part, seconds in parts.items()} \
        if rows else {}
