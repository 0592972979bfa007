"""The benchmark's table (markdown, also printed) and chart (PNG); write_results for every
benchmark that writes bench/results/NAME.{json,md}."""
import json
from pathlib import Path


def write_results(directory: Path, name: str, result: dict, table: str) -> None:
    """NAME.json (the result) and NAME.md (its table) in `directory`; the table printed."""
    (directory / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (directory / f"{name}.md").write_text(table)
    print(table)


def bulk_line(run):
    return (f"bulk {run['model']:<13} {run['rows_per_request']:>5} rows/request "
            f"{run['workers']} worker(s): {run['rows_per_s']:>6} rows/s "
            f"({run['rows']} rows in {run['seconds']} s; POSTs took {run['post_seconds']} s)")


def how(run):
    return "long-polled" if run.get("long_poll") else "polled"


def latency_line(run):
    return (f"single row {run['model']:<13} {how(run):<11} p50 {run['p50_ms']} ms, p95 {run['p95_ms']} ms, "
            f"p99 {run['p99_ms']} ms ({run['requests']} requests)")


def concurrent_line(run):
    return (f"{run['clients']} clients x 1 row {run['model']:<13} {how(run):<11} "
            f"{run['rows_per_s']:>5} rows/s, "
            f"p50 {run['p50_ms']} ms, p99 {run['p99_ms']} ms, "
            f"{run['polls_per_row']} polls per row ({run['rows']} rows)")


GROUPS = {"api": "api", "database": "database", "redis": "redis", "bench client": "client"}


def cpu_per_row_ms(run):
    """{process group: CPU ms per row} of one run; the workers are summed."""
    per_row = {}
    for name, seconds in run["cpu_seconds"].items():
        group = GROUPS.get(name, "workers")
        per_row[group] = per_row.get(group, 0.0) + seconds * 1000 / run["rows"]
    per_row["service"] = sum(per_row.get(g, 0.0) for g in ("api", "workers", "redis"))
    return {group: round(ms, 3) for group, ms in per_row.items()}


def cpu_table(runs, label):
    lines = [f"| {label} | api | workers | redis | service (api+workers+redis) | database "
             f"| bench client |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, run in runs:
        ms = cpu_per_row_ms(run)
        lines.append(f"| {name} | {ms.get('api', 0)} | {ms.get('workers', 0)} "
                     f"| {ms.get('redis', 0)} | {ms['service']} | {ms.get('database', 0)} "
                     f"| {ms.get('client', 0)} |")
    return lines


def find(runs, **fields):
    return next((r for r in runs if all(r.get(k) == v for k, v in fields.items())), None)


def targets(result):
    """The throughput issue's targets against this run: [(what, target, measured, met)]."""
    rows = []
    model, workers = "breast_cancer", max(r["workers"] for r in result["bulk"])
    bulk = find(result["bulk"], model=model, rows_per_request=1000, workers=workers)
    naive = naive_rate(result, model, workers, 1)
    if bulk:
        floor = result["floors"][model]["write"]["rows_per_s"]
        rows.append((f"bulk, {model}, 1,000 rows/request, {workers} workers",
                     ">= 3,000 rows/s and >= 10x naive",
                     f"{bulk['rows_per_s']} rows/s, {ratio(bulk['rows_per_s'], naive)}x naive",
                     bulk["rows_per_s"] >= 3000 and bulk["rows_per_s"] >= 10 * (naive or 0)))
        rows.append(("bulk / write floor", ">= 0.8", ratio(bulk["rows_per_s"], floor),
                     bulk["rows_per_s"] >= 0.8 * floor))
        service = cpu_per_row_ms(bulk)["service"]
        rows.append(("service CPU per row in that run (api + workers + redis)", "<= 0.3 ms",
                     f"{service} ms", service <= 0.3))
    for run in result.get("concurrent", []):
        naive = naive_rate(result, run["model"], run["workers"], 1)
        rows.append((f"{run['clients']} clients x 1 row, {run['model']}, {how(run)}",
                     ">= 3x naive 1 row/request, p99 <= 150 ms",
                     f"{run['rows_per_s']} rows/s ({ratio(run['rows_per_s'], naive)}x), "
                     f"p99 {run['p99_ms']} ms",
                     run["rows_per_s"] >= 3 * (naive or 0) and run["p99_ms"] <= 150))
    for run in result["latency"]:
        alone = result["floors"][run["model"]]["compute"]["single_row_ms"]
        rows.append((f"one row, idle, {run['model']}, {how(run)}",
                     "p50 <= model + 10 ms, p99 <= model + 40",
                     f"model + {run['p50_ms'] - alone:.1f} / + {run['p99_ms'] - alone:.1f} ms",
                     run["p50_ms"] <= alone + 10 and run["p99_ms"] <= alone + 40))
    return rows


def naive_rate(result, model, workers, rows_per_request):
    for run in result["naive"]:
        if (run["model"], run["workers"], run["rows_per_request"]) == (model, workers,
                                                                        rows_per_request):
            return run["rows_per_s"]
    return None


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "–"


def markdown(result):
    machine = result["machine"]
    lines = [
        f"Measured {machine['date']} on {machine['cores']} cores ({machine['cpu']}), "
        f"{machine['memory_gb']} GB, Python {machine['python']}, scikit-learn "
        f"{machine['packages']['scikit-learn']}, rq {machine['packages']['rq']}, "
        f"{machine['redis_server'].split(' sha=')[0]}, database: {machine['database']}; "
        f"{result['rows_per_model']} rows per model.",
        "",
        "**Bulk throughput**: first POST to last prediction `done`, rows/s (4 client threads)",
        "",
        "| model | rows/request | workers | service | write floor | service / write floor "
        "| naive 1 row/request | service / naive | compute floor |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result["bulk"]:
        floors = result["floors"][run["model"]]
        naive = naive_rate(result, run["model"], run["workers"], 1)
        lines.append(
            f"| {run['model']} | {run['rows_per_request']} | {run['workers']} "
            f"| {run['rows_per_s']} | {floors['write']['rows_per_s']} "
            f"| {ratio(run['rows_per_s'], floors['write']['rows_per_s'])} "
            f"| {naive or '–'} | {ratio(run['rows_per_s'], naive)} "
            f"| {floors['compute']['rows_per_s']} |")
    lines += [
        "",
        "**Single-row latency**: POST to `done` seen by polling with If-None-Match "
        "(back to back), or by long polling (`Prefer: wait=10`), one request at a time, "
        "idle stack",
        "",
        "| model | seen by | p50 ms | p95 ms | p99 ms | model alone ms | p50 − model "
        "| p99 − model |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in result["latency"]:
        alone = result["floors"][run["model"]]["compute"]["single_row_ms"]
        lines.append(f"| {run['model']} | {how(run)} | {run['p50_ms']} | {run['p95_ms']} "
                     f"| {run['p99_ms']} "
                     f"| {alone} | {run['p50_ms'] - alone:.1f} | {run['p99_ms'] - alone:.1f} |")
    lines += [
        "",
        "**Naive synchronous Flask `/predict`** under gunicorn (sync workers, 8 client "
        "threads, nothing stored)",
        "",
        "| model | workers | rows/request | rows/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in result["naive"]:
        lines.append(f"| {run['model']} | {run['workers']} | {run['rows_per_request']} "
                     f"| {run['rows_per_s']} | {run['p50_ms']} | {run['p99_ms']} |")
    if result.get("concurrent"):
        lines += [
            "",
            f"**Concurrent clients**: {result['concurrent'][0]['clients']} clients, each "
            "POSTing one row and polling it (If-None-Match, 5 ms apart) or long-polling it "
            "(`Prefer: wait=10`) to `done`, then the next; 2 workers",
            "",
            "| model | seen by | rows/s | naive 1 row/request | service / naive | p50 ms "
            "| p99 ms | GETs per row |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for run in result["concurrent"]:
            naive = naive_rate(result, run["model"], run["workers"], 1)
            lines.append(f"| {run['model']} | {how(run)} | {run['rows_per_s']} | {naive or '–'} "
                         f"| {ratio(run['rows_per_s'], naive)} | {run['p50_ms']} "
                         f"| {run['p99_ms']} | {run['polls_per_row']} |")
    lines += ["", "**CPU per row**, ms, by process (all the cores' time during the run "
              "over its rows; a bulk run's from its first POST to its last prediction "
              "written)", ""]
    lines += cpu_table([(f"bulk {r['model']} {r['rows_per_request']}/request "
                         f"{r['workers']}w", r) for r in result["bulk"]], "run")
    lines += cpu_table([(f"{r['clients']} clients {r['model']} {how(r)}", r)
                        for r in result.get("concurrent", [])], "run")[2:]
    lines += ["", "**Targets** (throughput issue)", "",
              "| what | target | this run | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {target} | {measured} | {'yes' if met else 'no'} |"
              for what, target, measured, met in targets(result)]
    noop = result["rq_noop"]
    lines += [
        "",
        f"**RQ alone**: {noop['jobs']} no-op jobs through the service's worker class: "
        f"{noop['jobs_per_s']} jobs/s ({noop['ms_per_job']} ms per job); "
        f"enqueue_many {noop['enqueue_jobs_per_s']} jobs/s.",
        "",
    ]
    return "\n".join(lines)


def chart(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5))
    for run in result["latency"]:
        ordered = sorted(run["samples_ms"])
        fractions = [(i + 1) / len(ordered) for i in range(len(ordered))]
        left.plot(ordered, fractions,
                  label=f"{run['model']}, {how(run)} (p50 {run['p50_ms']} ms)")
    left.set_xlabel("POST → done (ms)")
    left.set_ylabel("fraction of requests")
    left.set_title("Single-row latency, idle stack (CDF)")
    left.grid(alpha=0.3)
    left.legend()

    labels, values, colors = [], [], []
    for model, floors in result["floors"].items():
        best = max((r for r in result["bulk"] if r["model"] == model),
                   key=lambda r: r["rows_per_s"])
        for label, value, color in (
                ("service", best["rows_per_s"], "tab:blue"),
                ("write floor", floors["write"]["rows_per_s"], "tab:gray"),
                ("naive 1 row/req", naive_rate(result, model, best["workers"], 1), "tab:red"),
                ("naive 100 rows/req", naive_rate(result, model, best["workers"], 100),
                 "tab:orange"),
                ("compute floor", floors["compute"]["rows_per_s"], "tab:green")):
            labels.append(f"{model}\n{label}")
            values.append(value or 0)
            colors.append(color)
    right.bar(range(len(values)), values, color=colors)
    right.set_xticks(range(len(values)), labels, rotation=90, fontsize=7)
    right.set_yscale("log")
    right.set_ylabel("rows/s (log scale)")
    right.set_title("Bulk throughput: service (best run) and baselines")
    right.grid(axis="y", alpha=0.3)
    figure.suptitle(f"{result['machine']['cores']} cores, {result['machine']['database']}, "
                    f"{result['machine']['date']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
