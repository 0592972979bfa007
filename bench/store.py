"""`make bench-store`: what one client's reads cost as the store fills.

Starts its own stack (2 RQ workers), measures as one client token with 1,000 iris
predictions of its own, then fills the store through the API (1,000-row POSTs, each
from one of 100 other client tokens, all predicted by the workers) and measures again
at each level (default 0, 10,000 and 100,000 others' predictions):

- item GET `/predictions/{id}` (p50, p99);
- list page `sort=-_created&max_results=25` (p50), `_meta.total` checked;
- `where` on `status`, `model`, a `_created` range, one page each (p50), and on
  `ref` of `/inputs`;
- as an admin, the iris version's live quality and drift over 24 h (p50): every row
  stored is one of its predictions; and its comparison with iris v2 (a forest of another
  seed, registered over the API) over 24 h: v2 is v1's shadow while the store fills
  (`shadow` set, then taken off before each level is measured, so that the single rows'
  figures stay those of one model), and the client's own rows and one in ten of the
  others' are labelled with their true class (POST /feedback);
- as an admin logged in to the pages, `/ui/models`, `/ui/models/iris/1` and
  `/ui/review` (p50, HTML with its chart data); iris answers less sure than 0.9 wait for
  review, so the queue fills with the store;
- one row, submit → `done` seen by polling (p50, worst of 40), beside a raw
  `predict_proba` of the same row with the same artifact;
- at the last level, the CLI's path (service.client: `submit` in 1,000-row POSTs, then
  `wait`) for 20,000 rows (`--cli-rows`): rows/s, and the requests of each wait round.

Prints a table and writes bench/results/store.{json,md} and docs/bench-store.png
(`--output DIR`: DIR/store.{json,md,png})."""
import argparse
import json
import random
import re
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier

from devstack import services
from devstack.stack import Stack
from service.models.catalog import load_model

from .admin import IRIS_FEATURES, Api
from .load import percentile

RESULTS = Path(__file__).resolve().parent / "results"
CHART = Path(__file__).resolve().parent.parent / "docs" / "bench-store.png"
IRIS = load_iris()
ROWS = IRIS.data.tolist()
NAMES = IRIS.target_names[IRIS.target].tolist()


class Client:
    def __init__(self, url, token):
        self.base = f"{url}/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def get(self, path, **params):
        response = self.session.get(self.base + path, params=params, timeout=60)
        response.raise_for_status()
        return response.json()

    def post_rows(self, count, start=0):
        body = [{"model": "iris", "features": ROWS[(start + i) % len(ROWS)], "ref": f"r{i}"}
                for i in range(count)]
        response = self.session.post(self.base + "/inputs", json=body, timeout=120)
        response.raise_for_status()
        items = response.json().get("_items", [response.json()])
        return [item["prediction"] for item in items]


def timed_ms(call, rounds):
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def wait_until_done(admin, timeout=1800):
    where = json.dumps({"status": {"$in": ["queued", "running"]}})
    deadline = time.monotonic() + timeout
    while admin.get("/predictions", where=where, max_results=1)["_meta"]["total"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the store did not settle")
        time.sleep(1)


def single_row_ms(client, rounds, wait=None):
    """Submit one row, poll its prediction (If-None-Match) until done, or long-poll it
    (Prefer: wait) when `wait` is given."""
    timings = []
    for index in range(rounds):
        started = time.perf_counter()
        [prediction] = client.post_rows(1, start=index)
        etag = None
        while True:
            headers = {"If-None-Match": etag} if etag else {}
            if wait:
                headers["Prefer"] = f"wait={wait}"
            response = client.session.get(f"{client.base}/predictions/{prediction}",
                                          headers=headers, timeout=60)
            if response.status_code == 200:
                etag = response.headers.get("ETag")
                if response.json()["status"] in ("done", "failed"):
                    break
            time.sleep(0.002)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def measure(client, admin, pages, model_id, own, own_total, rounds, other_id):
    since = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime(
        "%a, %d %b %Y %H:%M:%S GMT")
    page = client.get("/predictions", sort="-_created", max_results=25)
    assert page["_meta"]["total"] == own_total, page["_meta"]
    # a different one of the client's predictions each time: a lookup that scans stops
    # at the first match, so always asking for the oldest would hide it
    picks = random.Random(0)
    item = timed_ms(lambda: client.get(f"/predictions/{picks.choice(own)}"), rounds)
    listing = timed_ms(lambda: client.get("/predictions", sort="-_created", max_results=25),
                       rounds // 4)
    wheres = {name: statistics.median(timed_ms(lambda p=path, w=where: client.get(
        p, where=json.dumps(w), max_results=25), rounds // 4))
        for name, path, where in (("status", "/predictions", {"status": "done"}),
                                  ("model", "/predictions", {"model": "iris"}),
                                  ("_created range", "/predictions", {"_created": {"$gte": since}}),
                                  ("ref", "/inputs", {"ref": "r7"}))}
    monitoring = {f"{what} p50 (admin)": statistics.median(timed_ms(
        lambda w=what: admin.get(f"/models/{model_id}/{w}", window="24h"), rounds // 4))
        for what in ("quality", "drift")}
    compared = admin.get(f"/models/{model_id}/compare", window="24h", **{"with": other_id})
    assert compared["rows"] >= len(own), compared  # the client's own rows, at least
    monitoring["compare p50 (admin)"] = statistics.median(timed_ms(
        lambda: admin.get(f"/models/{model_id}/compare", window="24h", **{"with": other_id}),
        rounds // 4))
    shown = pages_ms(*pages, rounds // 4)
    single = single_row_ms(client, 40)
    long_polled = single_row_ms(client, 40, wait=10)
    return {"item_p50": statistics.median(item), "item_p99": percentile(item, 99),
            "list_p50": statistics.median(listing), **{f"where {k} p50": v
                                                       for k, v in wheres.items()},
            **monitoring, **shown,
            "single_p50": statistics.median(single), "single_max": max(single),
            "single long-polled p50": statistics.median(long_polled)}


def ui_session(url, token):
    """A requests.Session logged in to the /ui/ pages."""
    session = requests.Session()
    form = session.get(f"{url}/ui/login", timeout=60)
    csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.text).group(1)
    response = session.post(f"{url}/ui/login", data={"token": token, "csrf_token": csrf},
                            timeout=60)
    response.raise_for_status()
    return session


def pages_ms(session, url, rounds):
    def get(path):
        response = session.get(url + path, timeout=60)
        assert response.status_code == 200 and "/ui/login" not in response.url, response.url
    return {f"{path} p50 (admin)": statistics.median(timed_ms(lambda p=path: get(p), rounds))
            for path in ("/ui/models", "/ui/models/iris/1", "/ui/review")}


def raw_predict_ms():
    _, estimator = load_model("iris", 1)
    row = [ROWS[0]]
    estimator.predict_proba(row)
    return statistics.median(timed_ms(lambda: estimator.predict_proba(row), 200))


def fill(admin, target, tokens, labeller):
    """Others' predictions up to `target`, 1,000 rows per POST, round robin over tokens;
    then one in ten of them labelled with its true class."""
    stored = admin.get("/predictions", max_results=1)["_meta"]["total"]
    index, labels = 0, []
    while stored < target:
        count = min(1000, target - stored)
        ids = tokens[index % len(tokens)].post_rows(count, start=index)
        labels += [(pid, NAMES[(index + i) % len(NAMES)]) for i, pid in enumerate(ids)][::10]
        stored += count
        index += 1
    wait_until_done(admin)
    labeller.label([pid for pid, _ in labels], [actual for _, actual in labels])


def add_shadow(admin, model_id):
    """iris v2 (a forest of another seed) as v1's shadow, v1 kept as what `iris` names
    (alias `production`); v2's id."""
    challenger = RandomForestClassifier(random_state=1).fit(IRIS.data, NAMES)
    other = admin.upload("iris", challenger, IRIS_FEATURES, reference_rows=ROWS)
    admin.patch_model(model_id, aliases=["production"])
    shadow(admin, model_id, other["version"])
    return other["_id"]


def shadow(admin, model_id, version):
    """Set (or, with None, take off) v1's shadow, and wait until the workers see it."""
    admin.patch_model(model_id, shadow=version)
    time.sleep(6)  # the workers read a version's settings again within 5 s


def cli_round_trip(url, token, rows):
    """service.client's submit + wait of `rows` iris rows: rows/s, requests per round."""
    from cli.client import Client as ApiClient
    api = ApiClient(url, token)
    sent = []
    request = api.request
    api.request = lambda method, path, **kw: sent.append(path) or request(method, path, **kw)
    started = time.perf_counter()
    ids = api.submit("iris", [ROWS[i % len(ROWS)] for i in range(rows)])
    posts = len(sent)
    rounds = []
    api.wait(ids, interval=0.5, progress=lambda left: rounds.append(len(sent)))
    seconds = time.perf_counter() - started
    per_round = [b - a for a, b in zip([posts] + rounds, rounds)]
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds,
            "wait_rounds": len(rounds), "requests_per_round": max(per_round)}


def report(levels, raw_ms):
    names = list(levels[0][1])
    lines = ["| others' predictions stored | " + " | ".join(names) + " |",
             "|---:|" + "---:|" * len(names)]
    for level, figures in levels:
        lines.append(f"| {level:,} | " + " | ".join(f"{figures[n]:.1f}" for n in names) + " |")
    lines.append(f"\nAll figures in ms; raw `predict_proba` of one iris row: {raw_ms:.2f} ms.")
    return "\n".join(lines)


def chart(levels, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axis = plt.subplots(figsize=(7, 4))
    xs = [level for level, _ in levels]
    for name in ("item_p50", "item_p99", "list_p50", "single_p50"):
        axis.plot(xs, [figures[name] for _, figures in levels], marker="o", label=name)
    axis.set_xlabel("others' predictions stored")
    axis.set_ylabel("ms")
    axis.set_title("one client's reads as the store fills (FerretDB, patched)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(prog="python -m bench.store")
    parser.add_argument("--levels", default="0,10000,100000")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--cli-rows", type=int, default=20_000)
    parser.add_argument("--others", type=int, default=100, help="other client tokens")
    parser.add_argument("--output", type=Path, default=RESULTS,
                        help="where store.json and store.md go (the chart: docs/ unless given)")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    with tempfile.TemporaryDirectory() as data_dir:
        stack = Stack(data_dir, port=services.free_port(), workers=2).start()
        try:
            admin = Client(stack.url, stack.create_token("admin", "bench-admin"))
            client = Client(stack.url, stack.create_token("client", "measured"))
            others = [Client(stack.url, stack.create_token("client", f"other-{n}"))
                      for n in range(args.others)]
            model_id = admin.get("/models", where=json.dumps({"name": "iris", "version": 1}))[
                "_items"][0]["_id"]
            iris = admin.get(f"/models/{model_id}")
            admin.session.patch(f"{admin.base}/models/{model_id}", json={"review_threshold": 0.9},
                                headers={"If-Match": iris["_etag"]}).raise_for_status()
            labeller = Api(stack.url, stack.create_token("admin", "bench-labels"))
            other_id = add_shadow(labeller, model_id)
            admin_token = stack.create_token("admin", "bench-pages")
            pages = (ui_session(stack.url, admin_token), stack.url)
            own = client.post_rows(1000)
            wait_until_done(admin)
            labeller.label(own, [NAMES[i % len(NAMES)] for i in range(len(own))])
            results = []
            own_total = 1000
            for level in levels:
                fill(admin, level + own_total, others, labeller)
                shadow(labeller, model_id, None)
                figures = measure(client, admin, pages, model_id, own, own_total, args.rounds,
                                  other_id)
                shadow(labeller, model_id, 2)
                own_total += 80  # measure()'s single rows (polled, long-polled) are the client's
                results.append((level, figures))
                print(level, {k: round(v, 1) for k, v in figures.items()}, flush=True)
            cli = cli_round_trip(stack.url, stack.create_token("client", "cli"), args.cli_rows)
            print("cli", cli, flush=True)
        finally:
            stack.stop()
    raw_ms = raw_predict_ms()
    table = report(results, raw_ms) + (
        f"\n\nCLI path (service.client submit + wait), {cli['rows']:,} iris rows with "
        f"{levels[-1]:,} others' stored: {cli['seconds']:.1f} s, {cli['rows_per_s']:,.0f} "
        f"rows/s; {cli['wait_rounds']} wait rounds, at most {cli['requests_per_round']} "
        "request(s) each.")
    print(table)
    args.output.mkdir(exist_ok=True)
    (args.output / "store.json").write_text(json.dumps(
        {"levels": results, "raw_predict_ms": raw_ms, "cli": cli}, indent=2))
    (args.output / "store.md").write_text(table + "\n")
    chart(results, CHART if args.output == RESULTS else args.output / "store.png")


if __name__ == "__main__":
    main()
