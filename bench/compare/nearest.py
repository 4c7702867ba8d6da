"""The Nearest rows of the comparison bench (run.sh --nearest; docs/benchmarks.md,
"Nearest (issue 12)").

On the protocol's N documents, each with a 256-d float32 embedding (standard
normal, from the run's seed), k = 10, dot product (what FAISS IndexFlatIP
ranks by):

  - the machine's two-thread read bandwidth (winnow_bench_nearest's loop over
    a buffer the matrix's size), measured in the same run;
  - one query: Winnow against the bound "bytes scanned / bandwidth";
  - 100 queries in one request: Winnow against FAISS IndexFlatIP searching
    the same 100 queries (Debian's python3-faiss, in a subprocess);
  - one query with the protocol's filter (about 5.4%): Winnow against the
    bound "Count time + matched rows' bytes / bandwidth".

Each search is timed twice: through winnowd (Nearest RPC, the matrix warm
after the warm-up) and in process on the engine alone (selection/nearest.h
over the same rows), so that a miss can be put on the engine or around it.
"""

import os
import subprocess
import sys

import numpy as np

DIM = 256
K = 10
QUERIES = 100
MATRIX_BOUND = 1.5   # one query: at most 1.5x bytes / bandwidth
FILTERED_BOUND = 1.5  # filtered: Count + 1.5x matched bytes / bandwidth

OP_ONE = "Nearest 1 query, k=10"
OP_BATCH = "Nearest 100 queries/request, k=10"
OP_FILTERED = "Nearest 1 query, 5.4% filter, k=10"
ENGINE = " [engine in process]"
BANDWIDTH = "two-thread read bandwidth"
FAISS_BEST = "FAISS IndexFlatIP (OMP_NUM_THREADS=1)"
FAISS_DEFAULT = "FAISS IndexFlatIP (defaults)"
BOUND_ONE = f"bound: {MATRIX_BOUND:g} x bytes / bandwidth"
BOUND_FILTERED = f"bound: Count + {FILTERED_BOUND:g} x matched bytes / bandwidth"

# (operation, peer, least ratio Winnow/peer) for bench.py's TARGETS: a bound
# row already holds the allowed time, so the ratio must reach 1.
TARGETS = [
    (op, peer, 1.0)
    for base, peer in ((OP_ONE, BOUND_ONE), (OP_BATCH, FAISS_BEST),
                       (OP_FILTERED, BOUND_FILTERED))
    for op in (base, base + ENGINE)
]

FAISS_SCRIPT = r"""
import sys, time, json
import numpy as np, faiss
n, dim, nq, k, reps, warmup = (int(a) for a in sys.argv[2:8])
x = np.fromfile(sys.argv[1] + "/emb.f32", dtype=np.float32).reshape(n, dim)
q = np.fromfile(sys.argv[1] + "/queries.f32", dtype=np.float32).reshape(-1, dim)[:nq]
index = faiss.IndexFlatIP(dim)
index.add(x)
secs = []
for r in range(-warmup, reps):
    t = time.perf_counter()
    D, I = index.search(q, k)
    if r >= 0:
        secs.append(time.perf_counter() - t)
I.astype(np.uint32).tofile(sys.argv[1] + "/faiss.u32")
print(json.dumps(dict(seconds=secs, version=faiss.__version__)))
"""


def write_embeddings(w, data, seed):
    rng = np.random.Generator(np.random.PCG64(seed + 12))
    emb = rng.standard_normal((w["n"], DIM), dtype=np.float32)
    emb.tofile(os.path.join(data, "emb.f32"))
    rng.standard_normal((QUERIES, DIM), dtype=np.float32).tofile(
        os.path.join(data, "queries.f32"))


def run_faiss(data, n, reps, warmup, env_extra):
    env = dict(os.environ, **env_extra)
    out = subprocess.run(
        [sys.executable, "-c", FAISS_SCRIPT, data, str(n), str(DIM), str(QUERIES), str(K),
         str(reps), str(warmup)],
        check=True, capture_output=True, timeout=1200, env=env).stdout
    import json
    return json.loads(out.decode().strip().splitlines()[-1])


def agreement(data, n_queries):
    """Queries whose k neighbour ordinals Winnow and FAISS agree on (as sets)."""
    ours = np.fromfile(os.path.join(data, "nearest100.u32"), dtype=np.uint32)
    theirs = np.fromfile(os.path.join(data, "faiss.u32"), dtype=np.uint32)
    if ours.size != n_queries * K or theirs.size != n_queries * K:
        return 0
    ours, theirs = ours.reshape(-1, K), theirs.reshape(-1, K)
    return sum(set(a) == set(b) for a, b in zip(ours, theirs))


def bench_nearest(w, args, res, tmp, data, start_winnowd, run_nearest_client, check, log):
    """start_winnowd() -> a started Winnowd; run_nearest_client(target, ops) ->
    {op: {"seconds": [...], "result": int}}."""
    n = w["n"]
    log(f"nearest: {n} x {DIM} float32 embeddings")
    write_embeddings(w, data, args.seed)
    matched = w["expected_count"]

    server = start_winnowd()
    try:
        out = run_nearest_client(server.target, ["ingest"])
        check("Winnow ingest with embeddings", out["ingest"]["result"], n)
        out.update(run_nearest_client(
            server.target,
            ["bandwidth", "count_filtered", "nearest1", "nearest100", "nearest1_filtered",
             "engine1", "engine100", "engine1_filtered"]))
    finally:
        server.stop()

    gbps = [out["bandwidth"]["result"] / s / 1e9 for s in out["bandwidth"]["seconds"]]
    res.add(BANDWIDTH, "machine (C++ loop)", "GB/s", gbps)
    # The median, as for every timed row.
    best = sorted(gbps)[len(gbps) // 2] * 1e9
    matrix_bytes = n * DIM * 4
    count_ms = sorted(s * 1e3 for s in out["count_filtered"]["seconds"])
    check("Winnow Count (filter)", out["count_filtered"]["result"], matched)
    for suffix, one, batch, filtered in (("", "nearest1", "nearest100", "nearest1_filtered"),
                                         (ENGINE, "engine1", "engine100", "engine1_filtered")):
        res.add(OP_ONE + suffix, "Winnow", "ms", [s * 1e3 for s in out[one]["seconds"]])
        res.add(OP_ONE + suffix, BOUND_ONE, "ms", [MATRIX_BOUND * matrix_bytes / best * 1e3])
        check(f"Winnow {one}", out[one]["result"], K)
        res.add(OP_BATCH + suffix, "Winnow", "ms", [s * 1e3 for s in out[batch]["seconds"]])
        check(f"Winnow {batch}", out[batch]["result"], K * QUERIES)
        res.add(OP_FILTERED + suffix, "Winnow", "ms",
                [s * 1e3 for s in out[filtered]["seconds"]])
        check(f"Winnow {filtered}", out[filtered]["result"], min(K, matched))
        res.add(OP_FILTERED + suffix, BOUND_FILTERED, "ms",
                [count_ms[len(count_ms) // 2]
                 + FILTERED_BOUND * matched * DIM * 4 / best * 1e3])

    # FAISS: with OpenMP off and OpenBLAS's own threads (the faster setting
    # on a 2-core machine), and once with its defaults.
    best_run = run_faiss(data, n, args.reps, args.warmup, {"OMP_NUM_THREADS": "1"})
    agree = agreement(data, QUERIES)
    if agree < QUERIES - 2:
        check("Winnow vs FAISS top-10 sets (queries agreeing)", agree, QUERIES)
    log(f"nearest: Winnow and FAISS agree on {agree} of {QUERIES} top-{K} sets")
    for suffix in ("", ENGINE):
        res.add(OP_BATCH + suffix, FAISS_BEST, "ms", [s * 1e3 for s in best_run["seconds"]])
    default_run = run_faiss(data, n, 1, 0, {})
    for suffix in ("", ENGINE):
        res.add(OP_BATCH + suffix, FAISS_DEFAULT, "ms",
                [s * 1e3 for s in default_run["seconds"]])
    return best_run["version"]
