"""Every query of the Grafana dashboard runs against a real Prometheus
scraping a real winnowd under a little load, and returns data.

The test starts winnowd on loopback (free ports), loads a collection and
restarts winnowd (so reads go through RocksDB's block cache), starts
Prometheus from Debian's package with a temporary config that scrapes it
every second and loads deploy/prometheus/alerts.yml, and keeps a small mixed
load running (Sample streams, upserts of existing documents, score puts,
training reports, Count, GetDocuments). Once the target is up and a few scrapes are in, it
runs each query of deploy/grafana/dashboards/winnow.json through
/api/v1/query. A query must be valid and return at least one series with a
number (NaN is not data), unless ALLOWED_EMPTY lists it with its reason.
Prometheus must also have evaluated every alert rule without error.

Usage: /usr/bin/python3 dashboard_queries_test.py --winnowd PATH
         --prometheus PATH --deploy DIR --proto DIR --work DIR
"""

import argparse
import atexit
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

# (panel title, refId) -> why the query may return no data. Only the two
# kinds issue 6 allows: features that do not exist yet, and error panels on
# a healthy server. Anything else must return data.
ALLOWED_EMPTY = {
    ("Errors per second by method and code", "A"):
        "error panel: a healthy server answers every call of this load OK",
    ("Error ratio by method", "A"):
        "error panel: a healthy server answers every call of this load OK",
    ("Operations in flight", "B"):
        "feature not there yet: long operations (scorers, backups) come with "
        "later issues and call Metrics::OperationStarted",
    ("Feedback and long operations", "B"):
        "feature not there yet: long operations (winnow_operation_seconds)",
}

# Grafana's variables, as the test resolves them.
VARIABLES = {"$__rate_interval": "20s", "$instance": ".*"}


# Child processes, killed at exit if a failure left them running.
CHILDREN = []


@atexit.register
def _kill_children():
    for p in CHILDREN:
        if p.poll() is None:
            p.kill()
            p.wait()


def log(msg):
    print(msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Winnowd:
    def __init__(self, binary, data_dir, log_path):
        self.log_path = log_path
        self.log_file = open(log_path, "w")
        self.proc = subprocess.Popen(
            [binary, "--data-dir", data_dir, "--listen", "127.0.0.1:0",
             "--metrics-listen", "127.0.0.1:0", "--shutdown-grace-seconds", "5"],
            stdout=self.log_file, stderr=subprocess.STDOUT)
        CHILDREN.append(self.proc)
        deadline = time.time() + 30
        while time.time() < deadline:
            text = open(log_path).read()
            grpc_port = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
            metrics = re.search(r"serving metrics on http://127\.0\.0\.1:(\d+)/metrics", text)
            if grpc_port and metrics:
                self.port = int(grpc_port.group(1))
                self.metrics_port = int(metrics.group(1))
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError("winnowd did not start:\n" + open(log_path).read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=30)
        self.log_file.close()
        if code != 0:
            raise RuntimeError("winnowd exited %d:\n%s" % (code, open(self.log_path).read()))


def get_json(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--winnowd", required=True)
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--deploy", required=True)
    ap.add_argument("--proto", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    if not args.prometheus or not os.access(args.prometheus, os.X_OK):
        log("prometheus not found: run scripts/install-deps.sh (Debian package "
            "prometheus) and reconfigure")
        return 1

    shutil.rmtree(args.work, ignore_errors=True)
    py = os.path.join(args.work, "python")
    os.makedirs(py)
    protos = sorted(os.path.join(args.proto, "winnow/v1", f)
                    for f in os.listdir(os.path.join(args.proto, "winnow/v1"))
                    if f.endswith(".proto"))
    subprocess.run(["protoc", "-I" + args.proto, "--python_out=" + py,
                    "--grpc_out=" + py,
                    "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"] + protos,
                   check=True)
    sys.path.insert(0, py)
    import grpc  # noqa: E402
    from winnow.v1 import collection_pb2, collection_pb2_grpc  # noqa: E402
    from winnow.v1 import document_pb2, document_pb2_grpc  # noqa: E402
    from winnow.v1 import score_pb2, score_pb2_grpc  # noqa: E402
    from winnow.v1 import selection_pb2, selection_pb2_grpc  # noqa: E402
    from winnow.v1 import strategy_pb2  # noqa: E402

    n_docs = 3000
    domains = ["web", "wiki", "code", "books"]

    def docs_batch(seq, first, n, rng):
        req = document_pb2.UpsertDocumentsRequest(collection="dash", sequence=seq)
        for i in range(first, first + n):
            d = req.documents.add(id="doc-%05d" % i, domain=domains[i % 4],
                                  length=100 + i, payload=b"x" * 512)
            d.scores["quality"] = rng.random()
        return req

    data_dir = os.path.join(args.work, "data")

    # 1. Load, then restart: the data is in SST files, and GetDocuments
    # reads payloads through the block cache.
    server = Winnowd(args.winnowd, data_dir, os.path.join(args.work, "winnowd-1.log"))
    channel = grpc.insecure_channel("127.0.0.1:%d" % server.port)
    collection_pb2_grpc.CollectionServiceStub(channel).CreateCollection(
        collection_pb2.CreateCollectionRequest(
            collection=collection_pb2.Collection(name="dash")), timeout=10)
    rng = random.Random(1)
    acks = list(document_pb2_grpc.DocumentServiceStub(channel).UpsertDocuments(
        iter([docs_batch(s + 1, s * 1000, 1000, rng) for s in range(n_docs // 1000)]),
        timeout=60))
    assert len(acks) == n_docs // 1000, acks
    channel.close()
    server.stop()
    server = Winnowd(args.winnowd, data_dir, os.path.join(args.work, "winnowd-2.log"))
    log("winnowd: gRPC 127.0.0.1:%d, metrics 127.0.0.1:%d" % (server.port, server.metrics_port))

    # 2. A little load until the queries are done.
    stop = threading.Event()
    errors = []
    calls = {"sample_batches": 0, "upserts": 0, "score_puts": 0, "reports": 0,
             "unary": 0}
    channel = grpc.insecure_channel("127.0.0.1:%d" % server.port)
    documents = document_pb2_grpc.DocumentServiceStub(channel)
    scores = score_pb2_grpc.ScoreServiceStub(channel)
    selection = selection_pb2_grpc.SelectionServiceStub(channel)
    collections = collection_pb2_grpc.CollectionServiceStub(channel)

    def guarded(fn):
        def run():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - any failure is an error
                errors.append("%s: %r" % (fn.__name__, e))
        return run

    def sampler():
        seed = 0
        while not stop.is_set():
            seed += 1
            req = selection_pb2.SampleRequest(collection="dash", seed=seed, batch_size=64,
                                              num_epochs=1, world_size=1)
            if seed % 2:
                req.strategy.CopyFrom(strategy_pb2.Strategy(weighted=strategy_pb2.WeightedStrategy(
                    score="quality", weight_function=strategy_pb2.WEIGHT_FUNCTION_POWER, alpha=2.0)))
            call = selection.Sample(req, timeout=30)
            for _ in call:
                calls["sample_batches"] += 1
                time.sleep(0.01)
                if stop.is_set():
                    call.cancel()
                    break

    def mixer():
        # A static mixture, so the served-against-target and drift panels
        # have a mixture plan to show (one plan: the same run_id each time,
        # resumed from its cursor).
        cursor = ""
        while not stop.is_set():
            req = selection_pb2.SampleRequest(
                collection="dash", seed=7, batch_size=32, samples_per_epoch=4096,
                run_id="dash-mixture", world_size=1, cursor=cursor,
                strategy=strategy_pb2.Strategy(mixture=strategy_pb2.MixtureStrategy(
                    mode=strategy_pb2.MIXTURE_MODE_STATIC,
                    domain_weights=[strategy_pb2.DomainWeight(domain=d, weight=w)
                                    for d, w in zip(domains, (0.4, 0.3, 0.2, 0.1))])))
            call = selection.Sample(req, timeout=30)
            for response in call:
                calls["sample_batches"] += 1
                cursor = response.cursor
                time.sleep(0.01)
                if stop.is_set():
                    call.cancel()
                    break

    def upserter():
        r = random.Random(2)
        seq = [0]

        def batches():
            while not stop.is_set():
                seq[0] += 1
                yield docs_batch(seq[0], r.randrange(n_docs - 100), 100, r)
                time.sleep(0.05)
        for _ in documents.UpsertDocuments(batches(), timeout=120):
            calls["upserts"] += 1

    def scorer():
        r = random.Random(3)
        seq = [0]

        def batches():
            while not stop.is_set():
                seq[0] += 1
                first = r.randrange(n_docs - 100)
                req = score_pb2.PutScoresRequest(collection="dash", sequence=seq[0])
                col = req.scores.add(name="edu")
                for i in range(first, first + 100):
                    req.ids.append("doc-%05d" % i)
                    col.values.append(r.random() * 5)
                yield req
                time.sleep(0.05)
        for _ in scores.PutScores(batches(), timeout=120):
            calls["score_puts"] += 1

    def reporter():
        # Training losses, one message of 100 per-sample reports per step.
        r = random.Random(5)
        seq = [0]

        def messages():
            while not stop.is_set():
                seq[0] += 1
                first = r.randrange(n_docs - 100)
                req = score_pb2.ReportTrainingRequest(
                    collection="dash", stream_id="dash/rank-0", sequence=seq[0],
                    steps=[seq[0]])
                for i in range(first, first + 100):
                    req.ids.append("doc-%05d" % i)
                    req.losses.append(r.random() * 4)
                yield req
                time.sleep(0.05)
        for ack in scores.ReportTraining(messages(), timeout=120):
            assert ack.applied_count == 100 and not ack.duplicate
            calls["reports"] += 1

    def unary():
        r = random.Random(4)
        while not stop.is_set():
            selection.Count(selection_pb2.CountRequest(collection="dash",
                                                       filter="quality > 0.5"), timeout=10)
            ids = ["doc-%05d" % r.randrange(n_docs) for _ in range(20)]
            got = documents.GetDocuments(document_pb2.GetDocumentsRequest(
                collection="dash", ids=list(dict.fromkeys(ids))), timeout=10)
            assert all(d.payload == b"x" * 512 for d in got.documents)
            collections.GetCollection(collection_pb2.GetCollectionRequest(name="dash"),
                                      timeout=10)
            calls["unary"] += 3
            time.sleep(0.02)

    threads = [threading.Thread(target=guarded(f)) for f in (sampler, sampler, mixer, upserter, scorer,
                                                             reporter, unary)]
    for t in threads:
        t.start()

    # 3. Prometheus on loopback, scraping winnowd every second.
    prom_port = free_port()
    prom_dir = os.path.join(args.work, "prometheus")
    os.makedirs(os.path.join(prom_dir, "tsdb"))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [os.path.join(os.path.abspath(args.deploy), "prometheus", "alerts.yml")],
        "scrape_configs": [{"job_name": "winnowd", "static_configs": [
            {"targets": ["127.0.0.1:%d" % server.metrics_port]}]}],
    }
    config_path = os.path.join(prom_dir, "prometheus.yml")
    with open(config_path, "w") as f:
        json.dump(config, f)  # JSON is YAML
    prom_log = open(os.path.join(prom_dir, "prometheus.log"), "w")
    prom = subprocess.Popen(
        [args.prometheus, "--config.file=" + config_path,
         "--storage.tsdb.path=" + os.path.join(prom_dir, "tsdb"),
         "--web.listen-address=127.0.0.1:%d" % prom_port],
        stdout=prom_log, stderr=subprocess.STDOUT)
    CHILDREN.append(prom)
    api = "http://127.0.0.1:%d/api/v1/" % prom_port
    failures = []
    try:
        deadline = time.time() + 60
        up = False
        while time.time() < deadline and not up:
            time.sleep(0.5)
            if prom.poll() is not None:
                raise RuntimeError("prometheus exited:\n" + open(prom_log.name).read())
            try:
                targets = get_json(api + "targets")["data"]["activeTargets"]
                up = any(t["health"] == "up" for t in targets)
            except OSError:
                pass
        if not up:
            raise RuntimeError("the winnowd target never came up:\n%s" % json.dumps(targets, indent=1))
        log("prometheus on 127.0.0.1:%d: target up" % prom_port)
        # Enough scrapes for rates over the load (and a storage refresh).
        time.sleep(8)
        up_value = get_json(api + "query?" + urllib.parse.urlencode(
            {"query": 'up{job="winnowd"}'}))["data"]["result"]
        if not (up_value and up_value[0]["value"][1] == "1"):
            failures.append("up{job=\"winnowd\"} is not 1: %s" % up_value)

        # 4. Every dashboard query.
        with open(os.path.join(args.deploy, "grafana", "dashboards", "winnow.json")) as f:
            dashboard = json.load(f)
        seen = set()
        counts = {"data": 0, "allowed empty": 0}
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                key = (panel["title"], target["refId"])
                seen.add(key)
                expr = target["expr"]
                for var, value in VARIABLES.items():
                    expr = expr.replace(var, value)
                if "$" in expr:
                    failures.append("%s %s: unresolved variable in %s" % (key + (expr,)))
                    continue
                try:
                    answer = get_json(api + "query?" + urllib.parse.urlencode({"query": expr}))
                except urllib.error.HTTPError as e:
                    failures.append("%s/%s is not a valid query (%s): %s\n    %s" % (
                        key[0], key[1], e.code, e.read().decode(), expr))
                    continue
                if answer.get("status") != "success":
                    failures.append("%s/%s failed: %s" % (key[0], key[1], answer))
                    continue
                result = answer["data"]["result"]
                values = [float(r["value"][1]) for r in result]
                numbers = [v for v in values if not math.isnan(v)]
                if numbers:
                    counts["data"] += 1
                    log("  data   %-40s %s: %d series, e.g. %s" % (
                        key[0], key[1], len(result), numbers[0]))
                    if key in ALLOWED_EMPTY:
                        log("         (listed as allowed empty; it has data now, so "
                            "the entry can go)")
                elif key in ALLOWED_EMPTY:
                    counts["allowed empty"] += 1
                    log("  empty  %-40s %s: allowed: %s" % (key[0], key[1], ALLOWED_EMPTY[key]))
                else:
                    failures.append("%s/%s returned no data (%d series, all NaN or none): %s" % (
                        key[0], key[1], len(result), expr))
        for key in ALLOWED_EMPTY:
            if key not in seen:
                failures.append("ALLOWED_EMPTY names %s/%s, which is not on the dashboard" % key)

        # 5. The alert rules, loaded into a real Prometheus, evaluate
        # without error.
        groups = get_json(api + "rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        bad = [(r["name"], r.get("lastError")) for r in rules if r.get("health") != "ok"]
        if not rules or bad:
            failures.append("alert rules not all evaluated OK: %d rules, bad: %s" % (len(rules), bad))
        firing = [r["name"] for r in rules if r.get("state") == "firing"]
        if firing:
            failures.append("alerts firing on a healthy server: %s" % firing)
        log("alert rules: %d loaded, all evaluated OK, none firing" % len(rules))
        log("queries: %d with data, %d allowed empty; load: %s" % (
            counts["data"], counts["allowed empty"], calls))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
        channel.close()
        prom.send_signal(signal.SIGTERM)
        try:
            prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prom.kill()
        prom_log.close()
    server.stop()
    if errors:
        failures.append("load errors: %s" % errors)
    if failures:
        log("FAILED:")
        for f in failures:
            log("  " + f)
        return 1
    log("all dashboard queries valid; every one not listed as allowed empty returned data")
    return 0


if __name__ == "__main__":
    sys.exit(main())
