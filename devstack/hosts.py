"""Two hosts on one machine, for the scale-out test and benchmark: two network
namespaces joined by a veth pair, with addresses of their own (10.213.47.0/24) that
exist only inside them. Commands run
on a host through `ip netns exec` (and `unshare --uts`, so that each host has its own
host name); the test process itself talks from inside a host with setns(2), for the
block of `inside()`. Root only, as CI runs."""
import ctypes
import os
import signal
import subprocess
import uuid
from contextlib import contextmanager

import psutil

from .services import ROOT

CLONE_NEWNET = 0x40000000
NETWORK = "10.213.47"


def ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Host:
    def __init__(self, name, address, namespace, link):
        self.name, self.address, self.namespace, self.link = name, address, namespace, link

    def command(self, argv):
        """argv run on this host, under its own host name."""
        return ["ip", "netns", "exec", self.namespace, "unshare", "--uts", "sh", "-c",
                f'hostname {self.name} && exec "$@"', "sh", *argv]

    def start(self, argv, env, log_path):
        """argv in the background on this host, in the checkout, output to log_path."""
        with open(log_path, "wb") as log:
            return subprocess.Popen(self.command(argv), cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def cut(self):
        """The host's link goes down: its processes run on, unable to reach anything."""
        ip("-n", self.namespace, "link", "set", self.link, "down")

    def restore(self):
        ip("-n", self.namespace, "link", "set", self.link, "up")

    @contextmanager
    def inside(self):
        """This thread's sockets (and the threads it starts) are on this host."""
        libc = ctypes.CDLL(None, use_errno=True)
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/run/netns/{self.namespace}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns into " + self.namespace)
            yield self
        finally:
            libc.setns(own, CLONE_NEWNET)
            os.close(own)
            os.close(target)


@contextmanager
def two_hosts():
    """(host_a, host_b) on one link; removed afterwards with everything on them."""
    tag = uuid.uuid4().hex[:6]
    hosts = [Host(f"host-{x}", f"{NETWORK}.{i}", f"pred-{x}-{tag}", f"veth-{x}-{tag}")
             for i, x in ((1, "a"), (2, "b"))]
    a, b = hosts
    try:
        for host in hosts:
            ip("netns", "add", host.namespace)
        ip("link", "add", a.link, "netns", a.namespace, "type", "veth",
           "peer", "name", b.link, "netns", b.namespace)
        for host in hosts:
            ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", host.link)
            ip("-n", host.namespace, "link", "set", "lo", "up")
            ip("-n", host.namespace, "link", "set", host.link, "up")
        yield a, b
    finally:
        for host in hosts:
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)


def stop(process, timeout=60):
    """SIGTERM to a process started by Host.start and its group (a make and its
    supervisor, as Ctrl-C would); returns what was still running after `timeout`
    seconds (then killed)."""
    everything = [psutil.Process(process.pid),
                  *psutil.Process(process.pid).children(recursive=True)]
    os.killpg(process.pid, signal.SIGTERM)
    _, alive = psutil.wait_procs(everything, timeout=timeout)
    for leftover in alive:
        leftover.kill()
    return alive
