#!/usr/bin/python3
"""The SemDeDup and D4 rows of the comparison bench (docs/benchmarks.md,
"Embedding scorers (issue 13)" -> "SemDeDup and D4").

The workload is the protocol's embedding column, as scorers.py makes it
(planted_embeddings): N x 256 unit-norm Gaussian rows, 5% of them planted
near-duplicates normalize(source + N(0, 0.01^2)) of a row that is never
itself a duplicate; the (duplicate, source) pairs are kept for recall.

Rows, each timed from ComputeScores to the operation's end through winnowd
(the embeddings ingested first by winnow_bench_nearest):

  - SemDeDup, epsilon 0.05 (cos > 0.95), clustering included (k-means k =
    --k, 10 iterations, random initialization, trained on all N), without
    the 2nd-cluster option, against a FAISS pipeline this script runs in a
    subprocess: faiss.Kmeans(spherical=True, same k and iterations, trained
    on all N), assignment by IndexFlatIP, then per cluster a Gram pass in
    numpy implementing the same rule (members by distance to the centroid
    descending, then index; M_j = max over earlier members);
  - the same with compare_second_cluster;
  - recall and precision of the planted pairs for the three (a pair is found
    when exactly one member is marked; precision = found pairs / marked),
    and the same over duplicate groups (a source with all its duplicates,
    found when exactly one member is kept): the generator draws sources
    with replacement, so about 2.6% of the pairs share a source, and of
    such a group a correct dedup keeps one member, leaving a pair of two
    marked members "not found";
  - D4 (dedup_keep_ratio 0.75, total_keep_ratio 0.5, per cluster): time.

  /usr/bin/python3 bench/compare/dedup_bench.py --winnowd build/server/winnowd \\
      --nearest-client build/bench/winnow_bench_nearest --n 100000 --k 316

Only processes this script started are stopped, by pid.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "client", "python"))

from bench import Results, Winnowd, log  # noqa: E402
from scorers import DIM, planted_embeddings  # noqa: E402

EPSILON = 0.05
ITERATIONS = 10

OP_OFF = "SemDeDup eps=0.05, k-means included"
OP_ON = "SemDeDup eps=0.05 + 2nd cluster, k-means included"
OP_D4 = "D4 dedup 0.75, total 0.5, k-means included"
FAISS = "FAISS Kmeans(spherical) + numpy Gram pass (omp {t})"


class _Skip(Exception):
    pass


def pair_scores(marked, pairs):
    """(recall, precision) of the planted pairs for a boolean marked array:
    a pair is found when exactly one member is marked; precision = found
    pairs / marked documents."""
    found = int(np.count_nonzero(marked[pairs[:, 0]] != marked[pairs[:, 1]]))
    total = int(np.count_nonzero(marked))
    return found / len(pairs), (found / total if total else 1.0)


def group_scores(marked, pairs):
    """The same over duplicate groups (a source with all its duplicates:
    the generator may give a source several): a group is found when
    exactly one member is kept; precision = marked members of found groups
    / marked documents. With one duplicate per source it is pair_scores."""
    sources, group = np.unique(pairs[:, 1], return_inverse=True)
    size = np.bincount(group) + 1
    kept = np.bincount(group, weights=~marked[pairs[:, 0]]) + ~marked[sources]
    found = kept == 1
    total = int(np.count_nonzero(marked))
    return (float(np.mean(found)),
            float((size[found] - 1).sum()) / total if total else 1.0,
            float(np.mean(size > 2)))


FAISS_SCRIPT = r"""
import sys, time, json
import numpy as np, faiss
path, n, dim, k, niter, seed, eps = sys.argv[1], *map(int, sys.argv[2:7]), float(sys.argv[7])
x = np.fromfile(path + "/emb.f32", dtype=np.float32).reshape(n, dim)
t0 = time.perf_counter()
km = faiss.Kmeans(dim, k, niter=niter, spherical=True, seed=seed,
                  max_points_per_centroid=n // k + 1, verbose=False)
km.train(x)
t1 = time.perf_counter()
index = faiss.IndexFlatIP(dim)
index.add(km.centroids)
sim, assign = index.search(x, 1)
dist = 1.0 - sim[:, 0]
assign = assign[:, 0]
t2 = time.perf_counter()
marked = np.zeros(n, dtype=np.uint8)
order = np.lexsort((np.arange(n), -dist, assign))
bounds = np.searchsorted(assign[order], np.arange(k + 1))
for c in range(k):
    members = order[bounds[c]:bounds[c + 1]]
    if len(members) < 2:
        continue
    xs = x[members]
    s = np.tril(xs @ xs.T, -1)
    marked[members[s.max(axis=1) > 1.0 - eps]] = 1
t3 = time.perf_counter()
marked.tofile(path + "/faiss_marked.u8")
print(json.dumps(dict(total=t3 - t0, kmeans=t1 - t0, assign=t2 - t1, gram=t3 - t2,
                      version=faiss.__version__)))
"""


def run_faiss(data, n, k, seed, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(
        [sys.executable, "-c", FAISS_SCRIPT, data, str(n), str(DIM), str(k),
         str(ITERATIONS), str(seed), str(EPSILON)],
        check=True, capture_output=True, timeout=3600, env=env).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


def write_workload(data, x):
    n = x.shape[0]
    x.tofile(os.path.join(data, "emb.f32"))
    np.zeros(n, np.uint8).tofile(os.path.join(data, "domain.u8"))
    np.full(n, 100, np.int64).tofile(os.path.join(data, "length.i64"))
    np.zeros(n, np.float32).tofile(os.path.join(data, "quality.f32"))
    x[:1].tofile(os.path.join(data, "queries.f32"))


def add_quality(res, op_name, system, marked, pairs):
    recall, precision = pair_scores(marked, pairs)
    g_recall, g_precision, multi = group_scores(marked, pairs)
    res.add(f"{op_name}: pair recall", system, "ratio", [recall])
    res.add(f"{op_name}: pair precision", system, "ratio", [precision])
    res.add(f"{op_name}: group recall", system, "ratio", [g_recall],
            f"{multi:.2%} of the groups have 2+ duplicates")
    res.add(f"{op_name}: group precision", system, "ratio", [g_precision])


def kmeans_proto(scorer_pb2, k, seed):
    return scorer_pb2.KMeansScorer(cluster_count=k, max_iterations=ITERATIONS,
                                   seed=seed, init=scorer_pb2.CENTROID_INIT_RANDOM)


def timed_scorer(client, scorer):
    t0 = time.perf_counter()
    op = client.compute_scores("dd", scorer)
    return time.perf_counter() - t0, op


def marked_of(client, score, n):
    ids = client.filter("dd", f"{score} > 0.5", view="ids").ids
    marked = np.zeros(n, dtype=bool)
    marked[[int(i[4:]) for i in ids]] = True
    return marked


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--winnowd", default=os.path.join(REPO, "build/server/winnowd"))
    ap.add_argument("--nearest-client",
                    default=os.path.join(REPO, "build/bench/winnow_bench_nearest"))
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--faiss-omp", default="2,1",
                    help="FAISS's OMP_NUM_THREADS settings to run, comma-separated "
                         "(empty: no FAISS rows)")
    ap.add_argument("--no-winnow", action="store_true",
                    help="only the FAISS rows")
    ap.add_argument("--no-d4", action="store_true")
    ap.add_argument("--no-semdedup", action="store_true",
                    help="leave out the two SemDeDup rows")
    ap.add_argument("--tmp", default=None)
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    args.faiss_omp = [int(t) for t in args.faiss_omp.split(",") if t]

    import winnow
    from winnow.v1 import scorer_pb2

    res = Results()
    t0 = time.time()
    x, pairs = planted_embeddings(args.n, DIM, args.seed)
    log(f"{args.n} x {DIM} embeddings, {len(pairs)} planted pairs, "
        f"generated in {time.time() - t0:.1f} s")
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        data = os.path.join(tmp, "data")
        os.mkdir(data)
        write_workload(data, x)
        del x
        server = Winnowd(args.winnowd, tmp, True)
        if not args.no_winnow:
            server.start()
        try:
            if args.no_winnow:
                raise _Skip()
            subprocess.run([args.nearest_client, "--target", server.target, "--data",
                            data, "--collection", "dd", "--ops", "ingest"],
                           check=True, timeout=3600, stdout=subprocess.DEVNULL)
            # The matrix warm (loaded by a first Nearest), as for every row.
            subprocess.run([args.nearest_client, "--target", server.target, "--data",
                            data, "--collection", "dd", "--ops", "nearest1", "--reps",
                            "1", "--warmup", "0"],
                           check=True, timeout=3600, stdout=subprocess.DEVNULL)
            client = winnow.Client(server.target)
            runs = [] if args.no_semdedup else [(OP_OFF, "dup_off", False),
                                                (OP_ON, "dup_on", True)]
            for op_name, score, second in runs:
                secs = []
                for _ in range(args.reps):
                    scorer = scorer_pb2.Scorer(semdedup=scorer_pb2.SemDedupScorer(
                        epsilon=EPSILON, kmeans=kmeans_proto(scorer_pb2, args.k, args.seed),
                        compare_second_cluster=second, duplicate_score=score))
                    s, op = timed_scorer(client, scorer)
                    secs.append(s)
                r = op.compute_scores_result.semdedup
                marked = marked_of(client, score, args.n)
                add_quality(res, op_name, "Winnow", marked, pairs)
                res.add(op_name, "Winnow", "s", secs, f"{r.duplicate_count} marked")
            if not args.no_d4:
                secs = []
                for _ in range(args.reps):
                    scorer = scorer_pb2.Scorer(d4=scorer_pb2.D4Scorer(
                        dedup_keep_ratio=0.75, total_keep_ratio=0.5,
                        kmeans=kmeans_proto(scorer_pb2, args.k, args.seed)))
                    s, op = timed_scorer(client, scorer)
                    secs.append(s)
                r = op.compute_scores_result.d4
                res.add(OP_D4, "Winnow", "s", secs,
                        f"keep ratio {r.keep_ratio:.4f}, epsilon {r.epsilon:.4f}")
            client.close()
        except _Skip:
            pass
        finally:
            server.stop()
        best = None
        for threads in args.faiss_omp:
            system = FAISS.format(t=threads)
            secs = []
            for _ in range(args.reps):
                f = run_faiss(data, args.n, args.k, args.seed, threads)
                secs.append(f["total"])
            marked = np.fromfile(os.path.join(data, "faiss_marked.u8"),
                                 dtype=np.uint8).astype(bool)
            add_quality(res, OP_OFF, system, marked, pairs)
            res.add(OP_OFF, system, "s", secs,
                    f"faiss {f['version']}: k-means {f['kmeans']:.1f} s, assign "
                    f"{f['assign']:.1f} s, Gram {f['gram']:.1f} s; "
                    f"{int(marked.sum())} marked")
            best = min(secs) if best is None else min(best, min(secs))
        ours = res.get(OP_OFF, "Winnow")
        if ours is not None and best is not None:
            log(f"SemDeDup Winnow / FAISS (faster setting) = "
                f"{min(ours['values']) / best:.2f} (target <= 1.2)")
    for r in res.rows:
        print(json.dumps(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res.rows, f, indent=1)


if __name__ == "__main__":
    main()
