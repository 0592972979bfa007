"""py-spy, attached to the API and the workers during one extra bulk run (`--profile`).

Writes collapsed stacks (one line per stack, `frame;frame;... count`) per process tree to
bench/results/profiles/, and a summary of where the samples fell."""
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path


def py_spy():
    return shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")


class Profiler:
    def __init__(self, processes, directory, label):
        self.targets = {name: pid for name, pid in processes.items()
                        if name == "api" or name.startswith("worker")}
        self.directory, self.label = Path(directory), label
        self.running = []

    def __enter__(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, pid in self.targets.items():
            output = self.directory / f"{self.label}-{name}.txt"
            argv = [py_spy(), "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                    "--output", str(output), "--subprocesses", "--nonblocking"]
            self.running.append((output, subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                                          stderr=subprocess.DEVNULL)))
        return self

    def __exit__(self, *exc):
        for _, process in self.running:
            process.send_signal(signal.SIGINT)
        for output, process in self.running:
            process.wait(timeout=60)
            summary = output.with_suffix(".summary.txt")
            summary.write_text(summarise(output))


def summarise(collapsed_path, top=25):
    """Samples per function, inclusive (on the stack) and self (at the top), busiest
    first; idle waiting shows as the blocking call it sits in."""
    inclusive, own, total = Counter(), Counter(), 0
    for line in Path(collapsed_path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        count = int(count)
        total += count
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += count
        own[frames[-1]] += count
    lines = [f"{total} samples", "", "inclusive %  function"]
    lines += [f"{100 * n / total:10.1f}  {frame}" for frame, n in inclusive.most_common(top)]
    lines += ["", "self %      function"]
    lines += [f"{100 * n / total:10.1f}  {frame}" for frame, n in own.most_common(top)]
    return "\n".join(lines) + "\n"
