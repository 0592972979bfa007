"""`make bench` end to end, shrunk: it starts its stack, runs every measurement and writes
the table, JSON and chart. No figure is asserted (speed targets live in the benchmark)."""
import json
import subprocess
import sys

from devstack.services import ROOT


def test_bench_runs_every_measurement_and_writes_its_results(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--rows", "300", "--sizes", "100", "--workers", "1",
         "--latency-requests", "5", "--naive-requests", "20", "--models", "iris",
         "--concurrent-clients", "4", "--concurrent-rows", "12", "--noop-jobs", "100",
         "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "latest.json").read_text())
    [bulk] = result["bulk"]
    assert (bulk["model"], bulk["rows"], bulk["workers"]) == ("iris", 300, 1)
    assert bulk["rows_per_s"] > 0 and bulk["cpu_seconds"]["database"] > 0
    assert [(run["requests"], run["long_poll"]) for run in result["latency"]] == [
        (5, False), (5, True)]
    assert [(run["rows"], run["long_poll"]) for run in result["concurrent"]] == [
        (12, False), (12, True)]
    assert all(run["cpu_seconds"]["api"] > 0 for run in result["concurrent"])
    assert {(r["workers"], r["rows_per_request"]) for r in result["naive"]} == {(1, 1), (1, 100)}
    assert set(result["floors"]["iris"]) == {"compute", "write"}
    assert result["rq_noop"]["jobs"] == 100
    table = (tmp_path / "latest.md").read_text()
    assert "| iris | 100 | 1 |" in table and table in out.stdout
    assert "**Targets**" in table  # but not the bulk ones: breast_cancer, 1,000 rows/request
    assert "| one row, idle, iris, long-polled |" in table and "| service CPU" not in table
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_database_bench_stores_writes_back_and_reads_every_row():
    """`python -m bench.database`, one chunk: each step timed, the server's CPU read."""
    out = subprocess.run([sys.executable, "-m", "bench.database", "--chunks", "1",
                          "--rounds", "1"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    [line] = [line for line in out.stdout.splitlines() if line.startswith("round 1 ")]
    for step in ("insert inputs", "insert predictions", "write-back", "read", "write cpu",
                 "read cpu"):
        assert f"{step} " in line


def test_database_bench_from_concurrent_clients_writes_every_row_and_reads_the_cores():
    """`python -m bench.database --clients 1,2`: each client count's rows/s, the server's
    CPU per row and cores (the run asserts that every row was written back)."""
    out = subprocess.run([sys.executable, "-m", "bench.database", "--clients", "1,2",
                          "--chunks", "1", "--rounds", "1", "--features", "30"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [line for line in out.stdout.splitlines() if line.startswith("round 1 ")]
    assert [line.split(" client(s):")[0].rsplit(" ", 1)[1] for line in lines] == ["1", "2"]
    for line in lines:
        figures = dict(part.rsplit(" ", 1) for part in line.split(": ", 1)[1].split(", "))
        assert float(figures["rows/s"]) > 0 and float(figures["server cores"]) > 0


def test_mixed_bench_measures_single_rows_beside_a_file_and_a_flood():
    out = subprocess.run(
        [sys.executable, "-m", "bench.mixed", "--file-rows", "2000", "--bulk-posts", "2",
         "--every", "0.5"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["singles"] >= 1 and result["p50_ms"] > 0
    assert result["file_rows_per_s"] > 0 and result["interactive_max_rows"] == "100"
    assert result["interactive_workers"] == 1 and result["post_p50_ms"] > 0
    busy = result["cores_busy"]
    assert set(busy) == {"api", "database", "redis", "workers"}
    assert busy["api"] > 0 and busy["database"] > 0 and busy["workers"] > 0


def test_turns_bench_times_two_files_each_way():
    out = subprocess.run(
        [sys.executable, "-m", "bench.turns", "--file-rows", "500"], cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    results = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert [(r["start"], r["file_chunks_queued"]) for r in results] == [
        ("together", 0), ("together", 8), ("backlog", 0), ("backlog", 8)]
    assert all(len(r["seconds"]) == 2 and min(r["seconds"]) > 0 for r in results)


def test_one_row_bench_counts_redis_commands_and_cpu_per_submission():
    out = subprocess.run(
        [sys.executable, "-m", "bench.one_row", "--seconds", "2", "--clients", "2",
         "--submissions", "20", "--warm-seconds", "0.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    sequential, concurrent = [json.loads(line) for line in out.stdout.strip().splitlines()]
    assert sequential["submissions"] == 20 and sequential["redis_commands_per_submission"] > 20
    assert set(sequential["cpu_ms_per_submission"]) == {"api", "workers", "database", "redis"}
    assert all(ms > 0 for ms in sequential["cpu_ms_per_submission"].values())
    assert concurrent["clients"] == 2 and concurrent["rows"] > 0 and concurrent["p99_ms"] > 0


def test_mixed_bench_with_a_slow_model_and_the_database_probe():
    out = subprocess.run(
        [sys.executable, "-m", "bench.mixed", "--file-rows", "1000", "--bulk-posts", "1",
         "--every", "0.5", "--model-ms-per-row", "1", "--probe-database", "--trace"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["model"] == "iris_slow" and result["singles"] >= 1
    slowest = result["slowest_singles_ms"]
    assert 1 <= len(slowest) <= 4 and slowest == sorted(slowest, key=lambda r: r["seen_done"])
    for row in slowest:  # a quick row is not marked running: its start is written with its end
        assert set(row) == {"second", "stored", "started", "finished", "answered", "seen_done"}
        assert row["stored"] <= row["started"] <= row["finished"] <= row["seen_done"] + 1
    assert result["file_rows_per_s"] > 0 and result["database_probes"] >= 1
    assert all(result[f"database_{name}"]["p99_ms"] > 0 for name in ("insert", "find", "update"))


def test_mixed_bench_pools_the_single_rows_of_several_runs():
    out = subprocess.run(
        [sys.executable, "-m", "bench.mixed", "--file-rows", "1000", "--bulk-posts", "1",
         "--every", "0.5", "--runs", "2"], cwd=ROOT, capture_output=True, text=True,
        timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    runs = result["runs"]
    assert len(runs) == 2 and all(run["singles"] >= 1 for run in runs)
    assert all(run["cores_busy"]["database"] > 0 for run in runs)
    assert result["singles"] == sum(run["singles"] for run in runs)
    assert result["max_ms"] == max(run["max_ms"] for run in runs)
    assert sorted(run["file_rows_per_s"] for run in runs)[0] <= result["file_rows_per_s"]


def test_mixed_bench_times_a_file_alone():
    out = subprocess.run(
        [sys.executable, "-m", "bench.mixed", "--file-rows", "1000", "--alone"], cwd=ROOT,
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["alone"] is True and result["file_rows_per_s"] > 0 and "singles" not in result


def run_bench(module, *args, timeout=300):
    out = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_answers_bench_measures_each_kind_in_turns(tmp_path):
    """`python -m bench.answers`, one round: one row at a time, concurrent clients and bulk,
    each kind with its CPU by process, and the targets' table."""
    run_bench("bench.answers", "--rounds", "1", "--seconds", "1", "--clients", "2",
              "--sequential", "3", "--bulk-rows", "600", "--bulk-size", "300",
              "--warm-rows", "200", "--output", str(tmp_path))
    result = json.loads((tmp_path / "answers.json").read_text())["results"]
    assert [r["kind"] for r in result["sequential"]] == [
        "model alone", "naive", "create and wait", "POST + GET long-polled", "cache hit"]
    assert all(r["rows"] == 3 and 0 < r["p50_ms"] <= r["max_ms"] for r in result["sequential"])
    concurrent = {r["kind"]: r for r in result["concurrent"]}
    assert set(concurrent) == {"naive", "create and wait", "POST + GET long-polled",
                               "cache hit"}
    assert all(r["rows"] > 0 and r["rows_per_s"] > 0 and r["p99_ms"] >= r["p50_ms"] > 0
               for r in concurrent.values())
    assert concurrent["cache hit"]["cached_share"] == 1.0
    assert concurrent["naive"]["cpu_ms_per_row"]["naive"] > 0
    for kind in ("create and wait", "POST + GET long-polled"):
        ms = concurrent[kind]["cpu_ms_per_row"]
        assert all(ms[part] > 0 for part in ("api", "workers", "redis", "database")), ms
    bulk = {r["kind"]: r for r in result["bulk"]}
    assert [bulk[k]["version"] for k in ("cache off, no shadow", "cache on, every row a miss",
                                         "shadow")] == [1, 3, 4]
    assert all(r["rows"] == 600 and r["rows_per_s"] > 0 for r in bulk.values())
    table = (tmp_path / "answers.md").read_text()
    for what in ("create and wait / naive rows/s", "cache hits / naive rows/s",
                 "create and wait p50 - model alone p50", "bulk, cache on (all misses) / cache off",
                 "bulk, shadow / no shadow"):
        assert what in table


def test_loop_bench_times_a_training_beside_single_rows(tmp_path):
    """`python -m bench.loop`, a small forest on 200 labelled rows, one round."""
    run_bench("bench.loop", "--labelled", "200", "--rounds", "1", "--idle-seconds", "1",
              "--trees", "5", "--output", str(tmp_path))
    result = json.loads((tmp_path / "loop.json").read_text())
    [run] = result["rounds"]
    assert run["rows"] + run["holdout_rows"] == 200 and run["holdout_rows"] == 40
    assert 0 < run["training_seconds"] < 60 and run["version"] == 2
    assert run["idle"]["rows"] > 0 and run["during"]["rows"] > 0
    assert run["p50_ratio"] == round(run["during"]["p50_ms"] / run["idle"]["p50_ms"], 2)
    assert run["cpu_ms_per_training_second"]["workers"] > 0
    assert "training done within 30 s" in (tmp_path / "loop.md").read_text()


def test_retention_bench_deletes_a_backlog_while_rows_arrive(tmp_path):
    """`python -m bench.retention` with a backlog of 5,000 expired rows."""
    run_bench("bench.retention", "--backlog", "5000", "--seconds", "1", "--output",
              str(tmp_path))
    result = json.loads((tmp_path / "retention.json").read_text())
    assert [p["phase"] for p in result["phases"]] == ["without, before", "deletion",
                                                      "without, after"]
    deletion = result["phases"][1]
    assert deletion["backlog"] == 5000 and deletion["seconds_to_window"] > 0
    assert deletion["rows_deleted_per_s"] > 0 and deletion["single_rows"] > 0
    assert deletion["cores_busy"]["database"] > 0 and result["passes"]
    assert result["rows_sent"] > 0 and result["stored_rows_per_s"] > 0
    assert all(p["p50_ms"] > 0 for p in result["phases"])
