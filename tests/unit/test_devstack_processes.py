"""How devstack/ starts and ends its processes: each dies with the process that started
it (PR_SET_PDEATHSIG), even when that one is killed with SIGKILL; what a service forked
dies with it; a service that cannot start, or a port already taken, is one line naming
it; a signal during the stop kills what is left instead of abandoning it."""
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devstack import services
from devstack.services import Service, StartFailed
from devstack.stack import Interrupts, Stack, Supervised

PYTHON = sys.executable


def gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether the process `pid` has ended (or is a zombie) within `timeout` seconds."""
    try:
        process = psutil.Process(pid)
        process.wait(timeout)
    except psutil.NoSuchProcess:
        return True
    except psutil.TimeoutExpired:
        return process.status() == psutil.STATUS_ZOMBIE
    return True


@pytest.fixture
def to_kill() -> Iterator[list[psutil.Process]]:
    """Processes a test started; any still running at its end is killed (psutil knows
    them apart from a later process given the same pid)."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass


# A parent that starts a child as a devstack Service does (with its parent-death
# signal), prints the child's pid and sleeps: the test then kills the parent.
PARENT = """
import sys, time
from devstack.services import Service
child = Service("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                sys.argv[1]).start(wait=False)
print(child.process.pid, flush=True)
time.sleep(60)
"""


def test_a_service_dies_with_the_process_that_started_it_killed_with_sigkill(
        tmp_path: Path, to_kill: list[psutil.Process]) -> None:
    parent = subprocess.Popen([PYTHON, "-c", PARENT, str(tmp_path)], cwd=services.ROOT,
                              stdout=subprocess.PIPE, text=True)
    to_kill.append(psutil.Process(parent.pid))
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    to_kill.append(psutil.Process(child))
    assert psutil.Process(child).ppid() == parent.pid
    parent.kill()
    parent.wait()
    assert gone(child), "the child outlived its parent"


def test_a_process_whose_parent_already_ended_gets_its_signal_at_once() -> None:
    """The parent may end before the child asks for the signal (which would then never
    come): die_with_parent sees it by the parent's pid."""
    code = ("import signal, time\n"
            "from devstack.deathsig import die_with_parent\n"
            "die_with_parent(signal.SIGTERM, -1)\n"  # no process's parent
            "time.sleep(60)\n")
    child = subprocess.run([PYTHON, "-c", code], cwd=services.ROOT, timeout=30)
    assert child.returncode == -signal.SIGTERM


def test_what_a_service_forked_is_killed_with_it_when_the_service_exits_first(
        tmp_path: Path, to_kill: list[psutil.Process]) -> None:
    """As RQ's scheduler, forked by a worker that does not outlive it."""
    service = Service("forks", ["sh", "-c", "sleep 60 & echo $!"], tmp_path)
    service.start(wait=False)
    while service.alive():
        time.sleep(0.05)
    left = int(service.log_path.read_text())
    to_kill.append(psutil.Process(left))
    assert psutil.pid_exists(left)
    restarted = Supervised()
    restarted.services = [service]
    try:
        assert restarted.restart_dead() == ["forks"]
        assert gone(left), "what the exited service left in its group runs on"
    finally:
        restarted.stop(timeout=5)


def test_a_service_that_exits_while_starting_is_named_in_one_line(tmp_path: Path) -> None:
    service = Service("broken", [PYTHON, "-c", "import sys; sys.exit(3)"], tmp_path,
                      port=services.free_port())
    with pytest.raises(StartFailed) as failed:
        service.start()
    message = str(failed.value)
    assert message.startswith("broken: process exited with 3")
    assert str(service.log_path) in message and "\n" not in message


def test_a_service_that_exits_before_the_stack_is_ready_is_named_in_one_line(
        tmp_path: Path) -> None:
    """Not only at the timeout: a worker that cannot start would hold the wait that long."""
    stack = Stack(tmp_path, port=services.free_port(), workers=0,
                  mongo_uri="mongodb://127.0.0.1:9/predictions", redis_url="redis://127.0.0.1:9/0")
    broken = Service("worker-1", [PYTHON, "-c", "import sys; sys.exit(2)"], tmp_path)
    stack.services = [broken.start()]
    with pytest.raises(StartFailed) as failed:
        stack.wait_until_ready(timeout=60)
    assert str(failed.value) == (f"worker-1 exited with 2 during the start; its log: "
                                 f"{broken.log_path}")


def test_a_port_taken_is_found_and_named() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert services.port_in_use("127.0.0.1", port)
        with pytest.raises(StartFailed) as failed:
            services.check_port_free("127.0.0.1", port)
    assert str(failed.value) == (f"port {port} on 127.0.0.1 is in use (PORT={port}): "
                                 "stop what holds it or choose another PORT")
    assert not services.port_in_use("127.0.0.1", port)
    services.check_port_free("127.0.0.1", port)


def test_a_port_whose_last_connection_is_in_time_wait_is_free() -> None:
    """As after a stop of gunicorn, which binds it again (SO_REUSEADDR, as here): no
    error."""
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server's side closes first: its end is in TIME_WAIT
        client.recv(1)
        client.close()
    assert not services.port_in_use("127.0.0.1", port)


def test_a_host_that_is_not_of_this_machine_is_named() -> None:
    with pytest.raises(StartFailed, match=r"cannot listen on 192\.0\.2\.1 port 5999"):
        services.check_port_free("192.0.2.1", 5999)


class FakeStack(Supervised):
    def __init__(self) -> None:
        self.services = []
        self.kills = 0

    def kill(self) -> None:
        self.kills += 1


def test_signals_interrupt_the_start_ask_for_the_stop_then_kill_what_is_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("devstack.stack.time.monotonic", lambda: now[0])
    interrupts, stack = Interrupts(), FakeStack()
    interrupts.supervised = stack
    with pytest.raises(KeyboardInterrupt):  # during the start: as Ctrl-C
        interrupts.handle(signal.SIGTERM, None)
    now[0] += 5
    interrupts.supervising = True
    interrupts.handle(signal.SIGINT, None)  # during the supervision: a request
    assert interrupts.requested and stack.kills == 0
    now[0] += 5
    stack.stopping = True
    interrupts.handle(signal.SIGINT, None)  # during the stop: kill what is left
    assert stack.kills == 1
    now[0] += 0.2  # the same TERM twice (make's and the process group's): one request
    interrupts.handle(signal.SIGTERM, None)
    assert stack.kills == 1
    now[0] += 5  # and a third likewise
    interrupts.handle(signal.SIGTERM, None)
    assert stack.kills == 2


def test_signals_sent_on_and_on_are_acted_upon_every_so_often(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A key held down: not all one request, for ever."""
    now = [100.0]
    monkeypatch.setattr("devstack.stack.time.monotonic", lambda: now[0])
    interrupts, stack = Interrupts(), FakeStack()
    interrupts.supervised, stack.stopping = stack, True
    for _ in range(10):
        interrupts.handle(signal.SIGINT, None)
        now[0] += 0.5
    assert stack.kills == 5
