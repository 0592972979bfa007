"""The benchmark's CPU meter (bench/machine.py) counts until it is stopped."""
import os
import time

from bench.machine import CpuMeter


def burn(seconds):
    until = time.process_time() + seconds
    while time.process_time() < until:
        pass


def test_a_stopped_meter_leaves_out_what_runs_after_the_stop():
    with CpuMeter({"this": os.getpid()}, trees=()) as meter:
        burn(0.3)
        meter.stop()
        burn(0.6)
    assert 0.25 <= meter.used["this"] <= 0.5
    with CpuMeter({"this": os.getpid()}, trees=()) as unstopped:
        burn(0.3)
    assert unstopped.used["this"] >= 0.25
