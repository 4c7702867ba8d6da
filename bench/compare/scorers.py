"""The embedding scorers' rows of the comparison bench (run.sh --scorers;
docs/benchmarks.md, "Embedding scorers (issue 13)").

The workload: the protocol's N documents, each with a 256-d unit-norm
Gaussian embedding, 5% of them planted near-duplicates
normalize(source + N(0, 0.01^2)) of a source that is never itself a
duplicate (planted_embeddings, which also returns the (duplicate, source)
pairs for recall).

k-means (k = --kmeans-k, --kmeans-iterations iterations, random
initialization, tolerance 0, trained on all N):
  - Winnow: ComputeScores kmeans through winnowd, the matrix warm; wall time
    from the call to the operation's SUCCEEDED (WaitOperation), so it
    includes the final assignment of every document and the atomic write
    of both score columns;
  - FAISS (Debian's python3-faiss, in a subprocess, the same float32 rows):
    faiss.Kmeans(256, k, niter, spherical=True, seed,
    max_points_per_centroid=10**9) so that it trains on all N; its train()
    alone, and train() plus the assignment of every row (IndexFlatIP over its
    centroids, search k=1), each with faiss.omp_set_num_threads(2) and (1)
    and OMP_NUM_THREADS the same (Debian's OpenBLAS reads it too: with 1,
    FAISS runs on one thread, its train() CPU seconds equal to its wall
    time);
  - the objective, like with like: the mean over all N rows of 1 - cos to
    the centroid each row is assigned to, with each system's final
    centroids (Winnow: the mean of GetScores' centroid_distance column;
    FAISS: computed here in numpy from its search over its centroids).

Serving while a job runs: four Sample readers (winnow_bench_client's
sample_load: each reads a uniform plan of its own one batch of 1,024 per
call, resuming from the last cursor), first back to back to find the idle
rate, then each at half of it: their p99 call latency with no job (the
mean of the p99 before and after the job: the machine's own load drifts)
and while the same k-means job runs, and the job's time with and without
them.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "client", "python"))

DIM = 256
DUP_FRACTION = 0.05
DUP_NOISE = 0.01
COLLECTION = "bench_emb"
LOAD_STREAMS = 4
LOAD_BATCH = 1024

OP_KMEANS = "k-means, k={k}, {it} iterations, all N"
OP_OBJECTIVE = "k-means objective (mean 1 - cos)"
OP_LOAD_P99 = f"Sample p99, {LOAD_STREAMS} readers at half rate, batches of {LOAD_BATCH}"
OP_LOAD_JOB = "k-means job under that Sample load"
WINNOW_IDLE = "Winnow, no k-means job"
WINNOW_ALONE = "Winnow, no Sample load"
FAISS_TRAIN = "FAISS Kmeans.train (omp {t})"
FAISS_TOTAL = "FAISS train + assign (omp {t})"

# Operations whose rows' notes bench.py prints under the table.
NOTE_OPS = (OP_OBJECTIVE, OP_LOAD_P99, OP_LOAD_JOB)

# (operation, peer, least ratio) for bench.py's TARGETS (ratio: how many
# times Winnow is faster or smaller): k-means within 1.2x of FAISS's faster
# train(), the objective within 0.5%, the p99 under load within 2x of idle
# and the job under load within 3x of alone. Filled in by targets().
TARGETS = []

FAISS_SCRIPT = r"""
import sys, time, json
import numpy as np, faiss
data, n, dim, k, niter, seed, threads = sys.argv[1], *(int(a) for a in sys.argv[2:8])
faiss.omp_set_num_threads(threads)
x = np.fromfile(data + "/emb.f32", dtype=np.float32).reshape(n, dim)
km = faiss.Kmeans(dim, k, niter=niter, spherical=True, seed=seed,
                  max_points_per_centroid=10**9, verbose=False)
t, c = time.perf_counter(), time.process_time()
km.train(x)
train, train_cpu = time.perf_counter() - t, time.process_time() - c
t = time.perf_counter()
index = faiss.IndexFlatIP(dim)
index.add(km.centroids)
D, I = index.search(x, 1)
assign = time.perf_counter() - t
# 1 - cos to the assigned centroid (rows and centroids are unit length;
# divided by the norms anyway).
cn = np.linalg.norm(km.centroids.astype(np.float64), axis=1)
xn = np.linalg.norm(x.astype(np.float64), axis=1)
cos = D[:, 0].astype(np.float64) / (xn * cn[I[:, 0]])
sizes = np.bincount(I[:, 0], minlength=k)
print(json.dumps(dict(train=train, train_cpu=train_cpu, assign=assign, objective=float(np.mean(1 - cos)),
                      min_size=int(sizes.min()), max_size=int(sizes.max()),
                      version=faiss.__version__)))
"""


def planted_embeddings(n, dim, seed):
    """(n x dim float32 unit rows, pairs): 5% of the rows are planted
    near-duplicates normalize(source + N(0, 0.01^2)) of a source row that is
    not itself a duplicate, each of a different source (so that every
    planted pair is its own group, and "exactly one member marked" is the
    right outcome for each); pairs is an (m, 2) int64 array of (duplicate,
    source) ordinals."""
    rng = np.random.Generator(np.random.PCG64(seed + 13))
    emb = rng.standard_normal((n, dim), dtype=np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    m = int(n * DUP_FRACTION)
    order = rng.permutation(n)
    dups, sources = np.sort(order[:m]), order[m:]
    src = rng.choice(sources, size=m, replace=False)
    noisy = emb[src] + rng.normal(0.0, DUP_NOISE, (m, dim)).astype(np.float32)
    emb[dups] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return emb, np.stack([dups, src], axis=1).astype(np.int64)


def targets(k, iterations):
    op = OP_KMEANS.format(k=k, it=iterations)
    out = [(op, FAISS_TRAIN.format(t=t), 1 / 1.2) for t in (1, 2)]
    out.append((OP_OBJECTIVE, "FAISS (faster omp setting)", 1 / 1.005))
    out.append((OP_LOAD_P99, WINNOW_IDLE, 0.5))
    out.append((OP_LOAD_JOB, WINNOW_ALONE, 1 / 3))
    return out


def run_faiss(data, n, k, iterations, seed, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [sys.executable, "-c", FAISS_SCRIPT, data, str(n), str(DIM), str(k),
         str(iterations), str(seed), str(threads)],
        check=True, capture_output=True, timeout=3600, env=env).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def kmeans_scorer(k, iterations, seed, cluster_score="", distance_score=""):
    from winnow.v1 import scorer_pb2
    return scorer_pb2.Scorer(kmeans=scorer_pb2.KMeansScorer(
        cluster_count=k, max_iterations=iterations, seed=seed, tolerance=0.0,
        init=scorer_pb2.CENTROID_INIT_RANDOM, training_sample_count=0,
        cluster_score=cluster_score, distance_score=distance_score))


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_kmeans(client, scorer, log=None, pid=None):
    """Seconds from ComputeScores to SUCCEEDED, and the operation. With
    `log`, logs how long each phase of the job took (as WaitOperation's
    updates, every 50 ms, saw them) and, with `pid` (winnowd's), the CPU
    seconds the server used meanwhile."""
    from winnow.v1 import operation_pb2
    phases = []

    def progress(op):
        if not phases or phases[-1][0] != op.phase:
            phases.append((op.phase, time.perf_counter()))

    cpu0 = cpu_seconds(pid) if pid else 0.0
    t0 = time.perf_counter()
    op = client.compute_scores(COLLECTION, scorer, wait=False)
    op = client.wait_operation(op.operation_id, update_interval=0.05, progress=progress)
    seconds = time.perf_counter() - t0
    if op.state != operation_pb2.OPERATION_STATE_SUCCEEDED:
        raise RuntimeError(f"k-means job ended {op}")
    if log is not None and pid:
        log(f"scorers: winnowd used {cpu_seconds(pid) - cpu0:.1f} CPU s in "
            f"{seconds:.1f} s")
    if log is not None:
        ends = [t for _, t in phases[1:]] + [t0 + seconds]
        log("scorers: k-means phases: " + ", ".join(
            f"{name or '(pending)'} {end - start:.2f} s"
            for (name, start), end in zip(phases, ends)))
    return seconds, op


def column_mean(client, n, name):
    """The mean of a score over ordinals [0, n), read in chunks; NaN if any
    document has none."""
    total, count = 0.0, 0
    for begin in range(0, n, 100_000):
        ordinals = np.arange(begin, min(n, begin + 100_000), dtype=np.uint64)
        col = client.get_scores(COLLECTION, ordinals=ordinals, names=[name]).columns[name]
        col = np.asarray(col, dtype=np.float64)
        if np.isnan(col).any():
            return float("nan")
        total += float(col.sum())
        count += col.size
    return total / count


def sample_load(args, target, data, rate, duration, stop_file=None, background=False):
    cmd = [args.client, "--target", target, "--data", data, "--collection", COLLECTION,
           "--ops", "sample_load", "--streams", str(LOAD_STREAMS),
           "--load-batch", str(LOAD_BATCH), "--rate", f"{rate:.3f}",
           "--duration", str(duration), "--seed", str(args.seed)]
    if stop_file:
        cmd += ["--stop-file", stop_file]
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE)
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=duration + 120).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def bench_scorers(w, args, res, tmp, data, start_winnowd, run_client, check, log):
    """start_winnowd() -> a started Winnowd; run_client(target, ops, extra)
    -> {op: {...}} from winnow_bench_client. Returns FAISS's version."""
    import winnow

    n, k, iterations = w["n"], args.kmeans_k, args.kmeans_iterations
    TARGETS[:] = targets(k, iterations)
    op_kmeans = OP_KMEANS.format(k=k, it=iterations)
    t0 = time.time()
    emb, pairs = planted_embeddings(n, DIM, args.seed)
    emb.tofile(os.path.join(data, "emb.f32"))
    np.save(os.path.join(data, "pairs.npy"), pairs)
    del emb
    log(f"scorers: {n} x {DIM} embeddings, {len(pairs)} planted pairs, "
        f"made in {time.time() - t0:.1f} s")

    server = start_winnowd()
    try:
        extra = ("--emb-dim", str(DIM), "--collection", COLLECTION)
        out = run_client(server.target, ["ingest_emb"], extra)["ingest_emb"]
        check("Winnow ingest with embeddings", out["result"], n)
        run_client(server.target, ["load_emb"], extra)  # the matrix warm
        client = winnow.Client(server.target)
        try:
            # k-means alone.
            secs, means = [], []
            for r in range(args.reps if n < 1_000_000 else 1):
                s, op = run_kmeans(client, kmeans_scorer(k, iterations, args.seed), log,
                                   server.proc.pid)
                secs.append(s)
                result = op.compute_scores_result
                check("Winnow k-means documents", result.document_count, n)
                check("Winnow k-means iterations", result.kmeans.iteration_count, iterations)
                means.append(column_mean(client, n, "centroid_distance"))
                log(f"scorers: Winnow k-means {s:.2f} s, objective {means[-1]:.6f} "
                    f"(result {result.kmeans.mean_distance:.6f}), clusters of "
                    f"{result.kmeans.min_cluster_size}..{result.kmeans.max_cluster_size}")
            res.add(op_kmeans, "Winnow", "s", secs)
            res.add(OP_OBJECTIVE, "Winnow", "1-cos", means[-1:],
                    f"{means[-1]:.6f}")
            alone = min(secs)

            # Serving while a job runs.
            calib = sample_load(args, server.target, data, 0, args.load_seconds / 2)
            rate = calib["rate_per_stream"] / 2
            idle = sample_load(args, server.target, data, rate, args.load_seconds)
            log(f"scorers: Sample readers back to back {calib['rate_per_stream']:.0f}/s "
                f"each (p99 {calib['p99'] * 1e3:.2f} ms); at {rate:.0f}/s p99 "
                f"{idle['p99'] * 1e3:.2f} ms")
            stop = os.path.join(tmp, "stop-sample-load")
            proc = sample_load(args, server.target, data, rate, 7200, stop, background=True)
            try:
                time.sleep(2)
                loaded_s, _ = run_kmeans(client, kmeans_scorer(
                    k, iterations, args.seed, "load_cluster", "load_distance"))
            finally:
                open(stop, "w").close()
                stdout, _ = proc.communicate(timeout=120)
            loaded = json.loads(stdout.decode().strip().splitlines()[-1])
            log(f"scorers: during the job the readers made {loaded['rate_per_stream']:.0f}"
                f"/s each, p99 {loaded['p99'] * 1e3:.2f} ms; the job took {loaded_s:.2f} s")
            # Idle again after the job: the machine's own load drifts, so the
            # idle figure is the mean of the p99 before and after.
            after = sample_load(args, server.target, data, rate, args.load_seconds)
            log(f"scorers: after the job, at {rate:.0f}/s p99 {after['p99'] * 1e3:.2f} ms")
            res.add(OP_LOAD_P99, "Winnow", "ms", [loaded["p99"] * 1e3],
                    f"{loaded['rate_per_stream']:.0f} calls/s per reader during the job; "
                    f"p50 {loaded['p50'] * 1e3:.2f} ms, max {loaded['max'] * 1e3:.1f} ms")
            res.add(OP_LOAD_P99, WINNOW_IDLE, "ms",
                    [(idle["p99"] + after["p99"]) / 2 * 1e3],
                    f"{idle['rate_per_stream']:.0f} calls/s per reader (half of "
                    f"{calib['rate_per_stream']:.0f} back to back); p99 "
                    f"{idle['p99'] * 1e3:.2f} ms before the job, "
                    f"{after['p99'] * 1e3:.2f} ms after; p50 {idle['p50'] * 1e3:.2f} ms")
            res.add(OP_LOAD_JOB, "Winnow", "s", [loaded_s])
            res.add(OP_LOAD_JOB, WINNOW_ALONE, "s", [alone])
        finally:
            client.close()
    finally:
        server.stop()

    # FAISS on the same rows, on 2 threads and on 1 (OMP_NUM_THREADS also
    # sets OpenBLAS's threads).
    best = None
    for threads in (2, 1):
        got = run_faiss(data, n, k, iterations, args.seed, threads)
        log(f"scorers: FAISS omp {threads}: train {got['train']:.2f} s "
            f"({got['train_cpu']:.1f} CPU s), assign "
            f"{got['assign']:.2f} s, objective {got['objective']:.6f}, clusters of "
            f"{got['min_size']}..{got['max_size']}")
        res.add(op_kmeans, FAISS_TRAIN.format(t=threads), "s", [got["train"]])
        res.add(op_kmeans, FAISS_TOTAL.format(t=threads), "s",
                [got["train"] + got["assign"]])
        if best is None or got["train"] < best["train"]:
            best = got
    res.add(OP_OBJECTIVE, "FAISS (faster omp setting)", "1-cos", [best["objective"]],
            f"{best['objective']:.6f}")
    return best["version"]
