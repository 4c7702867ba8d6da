#!/usr/bin/python3
"""Winnow against PostgreSQL 15, Redis 7 and numpy (docs/benchmarks.md).

Run through bench/compare/run.sh, which installs the peers and builds the
binaries. This driver:

  1. generates the protocol workload with numpy from a fixed seed and writes
     it as raw column files that every system loads (the same data);
  2. starts PostgreSQL 15 (its own initdb cluster in a temp dir, as the
     postgres user), Redis 7 (its own temp dir) and winnowd (fresh temp data
     dir per ingest repetition), all on 127.0.0.1, and stops them at the end;
  3. runs every operation on every system: a warm-up, then --reps timed
     repetitions; winnow_bench_client (C++, winnow::client) is Winnow's
     client;
  4. prints one table (median, min, max, ratio Winnow/peer, target) and
     saves it as JSON and CSV under bench/results/.

Everything is bounded: --timeout for the whole run, and each child call has
its own timeout. Only processes this script started are stopped, by pid.
"""

import argparse
import csv
import datetime
import io
import json
import math
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import psycopg2
import redis

import nearest
import scorers

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_BIN = "/usr/lib/postgresql/15/bin"
FILTER_SQL = "quality > 0.5 AND domain IN ('d0', 'd1') AND length < 2048"


class Timeout(Exception):
    pass


def log(*parts):
    print("[bench]", *parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------------
# The workload (docs/benchmarks.md, "The protocol"), from a fixed seed.


def make_workload(n, seed, k):
    rng = np.random.Generator(np.random.PCG64(seed))
    zipf = 1.0 / (np.arange(8) + 1.0)
    w = {}
    w["domain"] = rng.choice(8, size=n, p=zipf / zipf.sum()).astype(np.uint8)
    length = np.rint(rng.lognormal(math.log(600.0), 1.0, n))
    w["length"] = np.clip(length, 16, 32768).astype(np.int64)
    w["quality"] = rng.beta(2.0, 5.0, n).astype(np.float32)
    w["perplexity"] = rng.lognormal(math.log(20.0), 0.5, n).astype(np.float32)
    w["edu"] = rng.uniform(0.0, 5.0, n).astype(np.float32)
    # Point lookups: random ids, 1,000 per batch (the first ones also serve
    # the one-per-call lookups).
    n_lookup = max(1000, min(100_000, n) // 1000 * 1000)
    w["lookup"] = rng.integers(0, n, n_lookup).astype(np.uint32)
    # Score updates: distinct random documents, new quality values.
    n_update = min(100_000, n // 10)
    w["update_idx"] = rng.choice(n, n_update, replace=False).astype(np.uint32)
    w["update_val"] = rng.beta(2.0, 5.0, n_update).astype(np.float32)
    w["ids"] = np.array([b"doc-%07d" % i for i in range(n)], dtype="S11")
    w["n"] = n
    w["k"] = k
    return w


def write_workload(w, d):
    w["domain"].tofile(os.path.join(d, "domain.u8"))
    w["length"].tofile(os.path.join(d, "length.i64"))
    w["quality"].tofile(os.path.join(d, "quality.f32"))
    w["perplexity"].tofile(os.path.join(d, "perplexity.f32"))
    w["edu"].tofile(os.path.join(d, "edu.f32"))
    w["lookup"].tofile(os.path.join(d, "lookup.u32"))
    w["update_idx"].tofile(os.path.join(d, "update.u32"))
    w["update_val"].tofile(os.path.join(d, "update.f32"))


def expected_filter_count(w):
    q, dom, ln = w["quality"], w["domain"], w["length"]
    return int(np.count_nonzero((q > np.float32(0.5)) & (dom <= 1) & (ln < 2048)))


# --------------------------------------------------------------------------
# Results


class Results:
    def __init__(self):
        self.rows = []  # dicts: op, system, unit, values (list), note

    def add(self, op, system, unit, values, note=""):
        self.rows.append(dict(op=op, system=system, unit=unit,
                              values=[float(v) for v in values], note=note))
        med = statistics.median(values)
        log(f"{op:<28} {system:<34} median {fmt(med)} {unit}")

    def get(self, op, system):
        for r in self.rows:
            if r["op"] == op and r["system"] == system:
                return r
        return None


def fmt(v):
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def repeat(fn, reps, warmup):
    """Runs fn warmup + reps times; returns (seconds of the timed ones, the
    last result)."""
    secs, out = [], None
    for r in range(-warmup, reps):
        s, out = timed(lambda: fn(r))
        if r >= 0:
            secs.append(s)
    return secs, out


# --------------------------------------------------------------------------
# PostgreSQL 15


class Postgres:
    def __init__(self, tmp, shared_buffers):
        self.dir = tempfile.mkdtemp(prefix="pg-", dir=tmp)
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        self.user = None
        if os.geteuid() == 0:
            self.user = "postgres"
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.shared_buffers = shared_buffers
        self.started = False

    def _run(self, args, timeout):
        subprocess.run(args, user=self.user, check=True, timeout=timeout,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       cwd=self.dir)

    def start(self):
        self._run([f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres",
                   "--auth=trust", "--locale=C", "-E", "UTF8", "--no-sync"], 120)
        opts = " ".join([
            f"-p {self.port}", "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.dir}",
            f"-c shared_buffers={self.shared_buffers}", "-c work_mem=256MB",
            "-c wal_level=minimal", "-c max_wal_senders=0",
            "-c synchronous_commit=off", "-c jit=off",
        ])
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l",
                   os.path.join(self.dir, "log"), "-o", opts, "-w", "-t", "60",
                   "start"], 90)
        self.started = True
        self.conn = psycopg2.connect(host="127.0.0.1", port=self.port,
                                     user="postgres", dbname="postgres")
        self.conn.autocommit = True
        with self.conn.cursor() as c:
            c.execute("SHOW server_version")
            self.version = c.fetchone()[0]

    def stop(self):
        if not self.started:
            return
        try:
            self.conn.close()
        except Exception:
            pass
        try:
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w",
                       "-t", "60", "stop"], 90)
        except Exception as e:  # noqa: BLE001 - report and go on cleaning up
            log("pg_ctl stop failed:", e)
        self.started = False

    def postmaster_rss_mib(self):
        # The sum over the cluster's processes double-counts shared buffers;
        # report the postmaster's children as ps would, for orientation only.
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pid = int(f.readline())
        total = rss_mib(pid)
        for child in os.listdir("/proc"):
            if not child.isdigit():
                continue
            try:
                with open(f"/proc/{child}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    total += rss_mib(int(child))
            except (OSError, ValueError, RuntimeError):
                pass
        return total


def pg_copy_buffer(w, emb=None):
    """The whole table in PostgreSQL's binary COPY format; with `emb` (N x
    dim float32), a seventh column, emb real[]."""
    n = w["n"]
    fields = [
        ("nf", ">i2"),
        ("l0", ">i4"), ("id", "S11"),
        ("l1", ">i4"), ("domain", "S2"),
        ("l2", ">i4"), ("length", ">i4"),
        ("l3", ">i4"), ("quality", ">f4"),
        ("l4", ">i4"), ("perplexity", ">f4"),
        ("l5", ">i4"), ("edu", ">f4"),
    ]
    if emb is not None:
        # The array: ndim, has-null, element type (float4), size, lower
        # bound, then (length 4, value) per element.
        dim = emb.shape[1]
        fields += [("l6", ">i4"), ("ahdr", ">i4", (5,)), ("cells", ">i4", (2 * dim,))]
    rows = np.empty(n, dtype=np.dtype(fields))
    rows["nf"] = 6 if emb is None else 7
    rows["l0"] = 11
    rows["id"] = w["ids"]
    rows["l1"] = 2
    rows["domain"] = np.array([b"d%d" % d for d in range(8)], dtype="S2")[w["domain"]]
    rows["l2"] = 4
    rows["length"] = w["length"]
    for i, name in ((3, "quality"), (4, "perplexity"), (5, "edu")):
        rows[f"l{i}"] = 4
        rows[name] = w[name]
    if emb is not None:
        rows["l6"] = 20 + 8 * dim
        rows["ahdr"] = np.array([1, 0, 700, dim, 1], dtype=">i4")
        rows["cells"][:, 0::2] = 4
        rows["cells"][:, 1::2] = emb.astype(">f4").view(">i4")
    header = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
    return header + rows.tobytes() + (-1).to_bytes(2, "big", signed=True)


def bench_postgres(pg, w, args, res):
    conn = pg.conn
    buf = pg_copy_buffer(w)
    n, k = w["n"], w["k"]

    # Ingest: binary COPY into a table created in the same transaction
    # (wal_level=minimal skips its WAL), then the primary key, then a
    # durable commit (synchronous_commit=on for this transaction).
    copy_s, total_s = [], []
    for r in range(-args.warmup, args.reps):
        with conn.cursor() as c:
            c.execute("DROP TABLE IF EXISTS docs")
        conn.autocommit = False
        t0 = time.perf_counter()
        with conn.cursor() as c:
            c.execute("SET LOCAL synchronous_commit = on")
            c.execute("CREATE TABLE docs (id text, domain text, length int4, "
                      "quality real, perplexity real, edu real)")
            c.copy_expert("COPY docs FROM STDIN (FORMAT binary)", io.BytesIO(buf))
            t1 = time.perf_counter()
            c.execute("ALTER TABLE docs ADD PRIMARY KEY (id)")
        conn.commit()
        t2 = time.perf_counter()
        conn.autocommit = True
        if r >= 0:
            copy_s.append(t1 - t0)
            total_s.append(t2 - t0)
    res.add("ingest (durable)", "PostgreSQL COPY+PK", "docs/s", [n / s for s in total_s])
    res.add("ingest (durable)", "PostgreSQL COPY only", "docs/s", [n / s for s in copy_s],
            "before the PK build and commit")
    with conn.cursor() as c:
        c.execute("VACUUM ANALYZE docs")

    def q(sql, params=None, fetch="all"):
        with conn.cursor() as c:
            c.execute(sql, params)
            return c.fetchall() if fetch == "all" else c.fetchone()

    secs, out = repeat(lambda r: q(f"SELECT count(*) FROM docs WHERE {FILTER_SQL}")[0][0],
                       args.reps, args.warmup)
    res.add("filter count", "PostgreSQL", "ms", [s * 1e3 for s in secs])
    check("PostgreSQL count", out, w["expected_count"])
    secs, out = repeat(lambda r: len(q(f"SELECT id FROM docs WHERE {FILTER_SQL}")),
                       args.reps, args.warmup)
    res.add("filter fetch ids", "PostgreSQL", "ms", [s * 1e3 for s in secs])
    check("PostgreSQL fetch ids", out, w["expected_count"])

    # Efraimidis-Spirakis: key -ln(u)/w ascending, u = 1 - random() in (0, 1]
    # so that ln never sees 0.
    secs, out = repeat(lambda r: len(q(
        "SELECT id FROM docs ORDER BY -ln(1.0 - random()) / (quality * quality) "
        "LIMIT %s", (k,))), args.reps, args.warmup)
    res.add("weighted sample", "PostgreSQL ES ORDER BY", "ms", [s * 1e3 for s in secs])
    # The same query is the peer of Winnow's IDS-view row.
    res.add("weighted sample, IDS view", "PostgreSQL ES ORDER BY", "ms",
            [s * 1e3 for s in secs])
    check("PostgreSQL weighted", out, k)
    secs, out = repeat(lambda r: len(q("SELECT id FROM docs ORDER BY random() LIMIT %s", (k,))),
                       args.reps, args.warmup)
    res.add("uniform sample", "PostgreSQL ORDER BY random()", "ms", [s * 1e3 for s in secs])
    check("PostgreSQL uniform", out, k)

    ids = [b.decode() for b in w["ids"][w["lookup"]]]
    single = ids[:args.single_lookups]
    with conn.cursor() as c:
        c.execute("PREPARE get1(text) AS SELECT quality, perplexity, edu FROM docs WHERE id = $1")
        c.execute("PREPARE getn(text[]) AS SELECT id, quality, perplexity, edu FROM docs "
                  "WHERE id = ANY($1)")

        def get1(r):
            found = 0
            for i in single:
                c.execute("EXECUTE get1(%s)", (i,))
                found += c.fetchone() is not None
            return found

        def getn(r):
            found = 0
            for b in range(0, len(ids), 1000):
                c.execute("EXECUTE getn(%s)", (ids[b:b + 1000],))
                found += len(c.fetchall())
            return found

        secs, out = repeat(get1, args.reps, args.warmup)
        # The same figure is the peer of Winnow's stream rows.
        for op in ("GetScores 1 id/call", STREAM_LOCKSTEP, STREAM_PIPELINED):
            res.add(op, "PostgreSQL prepared", "ids/s", [len(single) / s for s in secs])
        secs, out = repeat(getn, args.reps, args.warmup)
        # = ANY() returns each distinct id once.
        res.add("GetScores batches of 1,000", "PostgreSQL prepared = ANY", "ids/s",
                [len(ids) / s for s in secs])

    upd_ids = [b.decode() for b in w["ids"][w["update_idx"]]]
    upd_vals = [float(v) for v in w["update_val"]]

    def update(r):
        conn.autocommit = False
        with conn.cursor() as c:
            c.execute("SET LOCAL synchronous_commit = on")
            c.execute("UPDATE docs SET quality = u.q FROM unnest(%s::text[], %s::real[]) "
                      "AS u(id, q) WHERE docs.id = u.id", (upd_ids, upd_vals))
            count = c.rowcount
        conn.commit()
        conn.autocommit = True
        return count

    secs, out = repeat(update, args.reps, args.warmup)
    res.add("PutScores 100k", "PostgreSQL UPDATE FROM unnest", "ms", [s * 1e3 for s in secs])
    check("PostgreSQL update", out, len(upd_ids))


# --------------------------------------------------------------------------
# Redis 7


class Redis:
    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=tmp)
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--protected-mode", "no", "--logfile", os.path.join(self.dir, "log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.time() + 30
        while True:
            try:
                self.client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
        self.version = self.client.info("server")["redis_version"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def resp(*parts):
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(p), p))
    return b"".join(out)


def redis_ingest_file(w, path, batch=1000):
    """The load as RESP for redis-cli --pipe: per 1,000 documents one ZADD
    per score and one HSET each for domain and length."""
    ids = w["ids"]
    scores = {name: np.char.mod(b"%.9g", w[name].astype(np.float64)).astype("S")
              for name in ("quality", "perplexity", "edu")}
    dom = np.array([b"d%d" % d for d in range(8)])[w["domain"]]
    ln = w["length"].astype("S")
    with open(path, "wb") as f:
        for b in range(0, w["n"], batch):
            e = min(w["n"], b + batch)
            bid = ids[b:e].tolist()
            for name, vals in scores.items():
                args = [b"ZADD", name.encode()]
                for v, i in zip(vals[b:e].tolist(), bid):
                    args += (v, i)
                f.write(resp(*args))
            for key, vals in ((b"domain", dom), (b"length", ln)):
                args = [b"HSET", key]
                for i, v in zip(bid, vals[b:e].tolist()):
                    args += (i, v)
                f.write(resp(*args))


def bench_redis(rd, w, args, res, tmp):
    cl = rd.client
    n, k = w["n"], w["k"]
    path = os.path.join(tmp, "redis-load.resp")
    redis_ingest_file(w, path)
    secs = []
    for r in range(-args.warmup, args.reps):
        cl.flushall()
        with open(path, "rb") as f:
            s, _ = timed(lambda: subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-p", str(rd.port), "--pipe"],
                stdin=f, check=True, stdout=subprocess.DEVNULL, timeout=600))
        if r >= 0:
            secs.append(s)
    check("Redis load", cl.zcard("quality"), n)
    res.add("ingest (durable)", "Redis --pipe (in memory)", "docs/s", [n / s for s in secs],
            "no fsync: Redis without AOF")
    res.add("server RSS after load", "Redis", "MiB", [rss_mib(rd.proc.pid)])

    def filt(r):
        ids = cl.zrangebyscore("quality", "(0.5", "+inf")
        p = cl.pipeline(transaction=False)
        p.hmget("domain", ids)
        p.hmget("length", ids)
        dom, ln = p.execute()
        return [i for i, d, l in zip(ids, dom, ln) if d in (b"d0", b"d1") and int(l) < 2048]

    secs, out = repeat(filt, args.reps, args.warmup)
    res.add("filter count", "Redis ZRANGEBYSCORE+client", "ms", [s * 1e3 for s in secs])
    res.add("filter fetch ids", "Redis ZRANGEBYSCORE+client", "ms", [s * 1e3 for s in secs])
    check("Redis filter", len(out), w["expected_count"])

    secs, out = repeat(lambda r: len(cl.zrandmember("quality", k)), args.reps, args.warmup)
    res.add("uniform sample", "Redis ZRANDMEMBER", "ms", [s * 1e3 for s in secs])
    check("Redis uniform", out, k)

    ids = w["ids"][w["lookup"]].tolist()
    single = ids[:args.single_lookups]

    def get1(r):
        found = 0
        for i in single:
            p = cl.pipeline(transaction=False)
            p.zscore("quality", i)
            p.zscore("perplexity", i)
            p.zscore("edu", i)
            found += p.execute()[0] is not None
        return found

    def getn(r):
        found = 0
        for b in range(0, len(ids), 1000):
            chunk = ids[b:b + 1000]
            p = cl.pipeline(transaction=False)
            for key in ("quality", "perplexity", "edu"):
                p.zmscore(key, chunk)
            found += len(p.execute()[0])
        return found

    secs, out = repeat(get1, args.reps, args.warmup)
    res.add("GetScores 1 id/call", "Redis 3x ZSCORE pipelined", "ids/s",
            [len(single) / s for s in secs])
    secs, out = repeat(getn, args.reps, args.warmup)
    res.add("GetScores batches of 1,000", "Redis 3x ZMSCORE pipelined", "ids/s",
            [len(ids) / s for s in secs])

    upd_ids = w["ids"][w["update_idx"]].tolist()
    upd_vals = w["update_val"].astype(np.float64).tolist()

    def update(r):
        p = cl.pipeline(transaction=False)
        for b in range(0, len(upd_ids), 10_000):
            p.zadd("quality", dict(zip(upd_ids[b:b + 10_000], upd_vals[b:b + 10_000])),
                   xx=True, ch=True)
        p.execute()
        return len(upd_ids)

    secs, out = repeat(update, args.reps, args.warmup)
    res.add("PutScores 100k", "Redis ZADD XX pipelined", "ms", [s * 1e3 for s in secs])


# --------------------------------------------------------------------------
# numpy, in process


def bench_numpy(w, args, res):
    q, dom, ln = w["quality"], w["domain"], w["length"]
    n, k = w["n"], w["k"]
    half = np.float32(0.5)

    def mask():
        return (q > half) & ((dom == 0) | (dom == 1)) & (ln < 2048)

    secs, out = repeat(lambda r: int(np.count_nonzero(mask())), args.reps, args.warmup)
    res.add("filter count", "numpy mask", "ms", [s * 1e3 for s in secs])
    check("numpy count", out, w["expected_count"])
    secs, out = repeat(lambda r: len(np.flatnonzero(mask())), args.reps, args.warmup)
    res.add("filter fetch ids", "numpy flatnonzero (ordinals)", "ms", [s * 1e3 for s in secs])

    def gumbel(r):
        rng = np.random.default_rng(1000 + r)
        keys = 2.0 * np.log(q) - np.log(-np.log(rng.random(n)))
        return len(np.argpartition(keys, n - k)[n - k:])

    secs, out = repeat(gumbel, args.reps, args.warmup)
    res.add("weighted sample", "numpy Gumbel top-k", "ms", [s * 1e3 for s in secs])
    check("numpy weighted", out, k)

    def uniform(r):
        rng = np.random.default_rng(2000 + r)
        return len(rng.choice(n, k, replace=False))

    secs, out = repeat(uniform, args.reps, args.warmup)
    res.add("uniform sample", "numpy choice(replace=False)", "ms", [s * 1e3 for s in secs])

    # The physical limit: one thread summing 512 MiB (touched first).
    a = np.ones(64 << 20, dtype=np.float64)
    a.sum()
    secs, _ = repeat(lambda r: a.sum(), args.reps, 1)
    res.add("memory read bandwidth", "numpy sum, 1 thread", "GB/s",
            [a.nbytes / s / 1e9 for s in secs])
    del a


# --------------------------------------------------------------------------
# Winnow


class Winnowd:
    def __init__(self, binary, tmp, sync):
        self.dir = tempfile.mkdtemp(prefix="winnowd-", dir=tmp)
        self.binary = binary
        self.sync = sync
        self.proc = None

    def start(self):
        args = [self.binary, "--data-dir", os.path.join(self.dir, "data"),
                "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
                "--log-level", "warn"]
        if not self.sync:
            args.append("--sync-writes=false")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=open(os.path.join(self.dir, "log"), "wb"))
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode()
            if not line:
                break
            m = re.search(r"winnowd listening on (\S+)", line)
            if m:
                self.target = m.group(1)
                return
        raise RuntimeError(f"winnowd did not start; see {self.dir}/log")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class EchoServer:
    """winnow_bench_echo: a bare gRPC GetScores echo, the transport's floor."""

    def __init__(self, binary, api):
        self.args = [binary, "--api", api, "--listen", "127.0.0.1:0"]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.search(r"echo listening on (\S+)", line)
        if not m:
            raise RuntimeError(f"winnow_bench_echo did not start: {line!r}")
        self.target = m.group(1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def bench_echo(w, args, res, data):
    """The one-id GetScores row against a server that only echoes: what gRPC
    itself costs per call on this machine, with the same client."""
    single = min(args.single_lookups, len(w["lookup"]))
    for api in ("callback", "async"):
        server = EchoServer(args.echo, api)
        server.start()
        try:
            out = run_client(args.client, server.target, data, ["get_single"],
                             args, w["k"])["get_single"]
        finally:
            server.stop()
        check(f"echo ({api}) ids", out["result"], single)
        res.add("GetScores 1 id/call", f"bare gRPC echo ({api} API)", "ids/s",
                [single / s for s in out["seconds"]])


def run_client(client, target, data, ops, args, k, reps=None, warmup=None, extra=()):
    cmd = [client, "--target", target, "--data", data, "--ops", ",".join(ops),
           "--reps", str(args.reps if reps is None else reps),
           "--warmup", str(args.warmup if warmup is None else warmup),
           "--k", str(k), "--single-lookups", str(args.single_lookups), *extra]
    if args.keep_plans:
        cmd.append("--keep-plans")
    out = subprocess.run(cmd, check=True, capture_output=True, timeout=900).stdout
    return {d["op"]: d for d in (json.loads(l) for l in out.decode().splitlines() if l)}


STREAM_WINDOW = 32
STREAM_LOCKSTEP = "GetScoresStream 1 id/message, lock-step"
STREAM_PIPELINED = f"GetScoresStream 1 id/message, {STREAM_WINDOW} ahead"


def bench_winnow(w, args, res, tmp, data):
    n, k = w["n"], w["k"]
    server = None
    rss = None
    for sync in (False, True):
        secs = []
        for r in range(-args.warmup, args.reps):
            if server:
                server.stop()
            server = Winnowd(args.winnowd, tmp, sync)
            server.start()
            out = run_client(args.client, server.target, data, ["ingest"], args, k)["ingest"]
            check("Winnow ingest", out["result"], n)
            if r >= 0:
                secs.append(out["seconds"][0])
        if sync:
            res.add("ingest (durable)", "Winnow", "docs/s", [n / s for s in secs])
        else:
            res.add("ingest (--sync-writes=false)", "Winnow", "docs/s", [n / s for s in secs])
    time.sleep(0.5)
    rss = rss_mib(server.proc.pid)
    res.add("server RSS after load", "Winnow", "MiB", [rss])
    try:
        out = run_client(args.client, server.target, data,
                         ["count", "filter_ids", "sample_weighted", "sample_uniform",
                          "sample_weighted_ids", "first_batch_weighted",
                          "first_batch_epoch_weighted", "stream_packed",
                          "stream_ids", "get_single", "get_batch", "put_scores"], args, k)
        res.add("filter count", "Winnow", "ms", [s * 1e3 for s in out["count"]["seconds"]])
        check("Winnow count", out["count"]["result"], w["expected_count"])
        res.add("filter fetch ids", "Winnow", "ms",
                [s * 1e3 for s in out["filter_ids"]["seconds"]])
        check("Winnow fetch ids", out["filter_ids"]["result"], w["expected_count"])
        res.add("weighted sample", "Winnow", "ms",
                [s * 1e3 for s in out["sample_weighted"]["seconds"]])
        check("Winnow weighted", out["sample_weighted"]["result"], k)
        res.add("uniform sample", "Winnow", "ms",
                [s * 1e3 for s in out["sample_uniform"]["seconds"]])
        check("Winnow uniform", out["sample_uniform"]["result"], k)
        res.add("weighted sample, IDS view", "Winnow", "ms",
                [s * 1e3 for s in out["sample_weighted_ids"]["seconds"]])
        check("Winnow weighted (IDS view)", out["sample_weighted_ids"]["result"], k)
        res.add("first batch of a new weighted plan", "Winnow", "ms",
                [s * 1e3 for s in out["first_batch_weighted"]["seconds"]])
        check("Winnow first batch", out["first_batch_weighted"]["result"], min(k, 4096))
        res.add("first batch of a new weighted plan, whole epoch", "Winnow", "ms",
                [s * 1e3 for s in out["first_batch_epoch_weighted"]["seconds"]])
        check("Winnow first batch (whole epoch)",
              out["first_batch_epoch_weighted"]["result"], min(k, 4096))
        res.add("stream an existing plan, packed ids", "Winnow", "ids/s",
                [n / s for s in out["stream_packed"]["seconds"]])
        check("Winnow stream packed", out["stream_packed"]["result"], n)
        res.add("stream an existing plan, IDS view", "Winnow", "ids/s",
                [n / s for s in out["stream_ids"]["seconds"]])
        check("Winnow stream IDS", out["stream_ids"]["result"], n)
        single = min(args.single_lookups, len(w["lookup"]))
        res.add("GetScores 1 id/call", "Winnow", "ids/s",
                [single / s for s in out["get_single"]["seconds"]])
        res.add("GetScores batches of 1,000", "Winnow", "ids/s",
                [len(w["lookup"]) / s for s in out["get_batch"]["seconds"]])
        res.add("PutScores 100k", "Winnow", "ms",
                [s * 1e3 for s in out["put_scores"]["seconds"]])
        check("Winnow PutScores", out["put_scores"]["result"], len(w["update_idx"]))
        # The same one-id lookups on one GetScoresStream: lock-step (each
        # waits for the previous answer, like a unary caller), then with
        # STREAM_WINDOW lookups sent ahead of their answers.
        for window, op in ((1, STREAM_LOCKSTEP), (STREAM_WINDOW, STREAM_PIPELINED)):
            got = run_client(args.client, server.target, data, ["get_stream"], args, k,
                             extra=("--stream-window", str(window)))["get_stream"]
            check(f"Winnow GetScoresStream window {window}", got["result"], single)
            res.add(op, "Winnow", "ids/s", [single / s for s in got["seconds"]])
        res.add("server RSS after queries", "Winnow", "MiB", [rss_mib(server.proc.pid)])
    finally:
        server.stop()


def bench_nearest(w, args, res, tmp, data):
    def start():
        server = Winnowd(args.winnowd, tmp, False)
        server.start()
        return server

    def client(target, ops):
        cmd = [args.nearest_client, "--target", target, "--data", data,
               "--ops", ",".join(ops), "--reps", str(args.reps),
               "--warmup", str(args.warmup)]
        out = subprocess.run(cmd, check=True, capture_output=True, timeout=1200).stdout
        return {d["op"]: d for d in (json.loads(l) for l in out.decode().splitlines() if l)}

    return nearest.bench_nearest(w, args, res, tmp, data, start, client, check, log)


def bench_scorers(w, args, res, tmp, data):
    def start():
        server = Winnowd(args.winnowd, tmp, False)
        server.start()
        return server

    def client(target, ops, extra=()):
        return run_client(args.client, target, data, ops, args, w["k"], extra=extra)

    version = scorers.bench_scorers(w, args, res, tmp, data, start, client, check, log)
    TARGETS.extend(scorers.TARGETS)
    return version


# --------------------------------------------------------------------------
# Embeddings (--embeddings): import with 256-d embeddings, against
# PostgreSQL's binary COPY + primary key with an `emb real[]` column and the
# disk's sequential write bandwidth, measured in the same run.

EMB_IMPORT = "import with embeddings (durable)"
EMB_LOAD = "load the embedding matrix (first read)"


def make_embeddings(n, dim, seed):
    rng = np.random.Generator(np.random.PCG64(seed + 1))
    return rng.standard_normal((n, dim), dtype=np.float32)


def disk_write_seconds(tmp, data, reps, warmup):
    """Sequential write of `data` to a new file in tmp, then fdatasync."""
    path = os.path.join(tmp, "disk-bandwidth")
    view = memoryview(data)
    chunk = 8 << 20
    secs = []
    for r in range(-warmup, reps):
        t0 = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for off in range(0, len(view), chunk):
                os.write(fd, view[off:off + chunk])
            os.fdatasync(fd)
        finally:
            os.close(fd)
        s = time.perf_counter() - t0
        os.unlink(path)
        if r >= 0:
            secs.append(s)
    return secs


def bench_embeddings(w, args, res, tmp, data, systems):
    n, dim = w["n"], args.emb_dim
    t0 = time.time()
    emb = make_embeddings(n, dim, args.seed)
    emb.tofile(os.path.join(data, "emb.f32"))
    log(f"{n} x {dim} embeddings generated in {time.time() - t0:.1f} s")
    raw = emb.nbytes
    secs = disk_write_seconds(tmp, emb.data.cast("B"), args.reps, args.warmup)
    res.add(EMB_IMPORT, "disk sequential write", "docs/s", [n / s for s in secs],
            f"{raw / 2**20:.0f} MiB of cells, fdatasync; median "
            f"{raw / statistics.median(secs) / 2**20:.0f} MiB/s")
    if "winnow" in systems:
        secs, load_s, warm_s, memory = [], [], [], 0
        for r in range(-args.warmup, args.reps):
            server = Winnowd(args.winnowd, tmp, True)
            server.start()
            try:
                extra = ("--emb-dim", str(dim), "--collection", "bench_emb")
                out = run_client(args.client, server.target, data, ["ingest_emb"],
                                 args, w["k"], extra=extra)["ingest_emb"]
                check("Winnow ingest with embeddings", out["result"], n)
                got = run_client(args.client, server.target, data, ["load_emb"],
                                 args, w["k"], extra=extra)["load_emb"]
            finally:
                server.stop()
            if r >= 0:
                secs.append(out["seconds"][0])
                load_s.append(got["seconds"][0])
                warm_s.append(got["seconds"][1])
                memory = got["result"]
        res.add(EMB_IMPORT, "Winnow", "docs/s", [n / s for s in secs],
                f"{raw / statistics.median(secs) / 2**20:.0f} MiB/s of cells")
        res.add(EMB_LOAD, "Winnow", "ms", [s * 1e3 for s in load_s],
                f"{raw / statistics.median(load_s) / 2**30:.2f} GiB/s of cells; a "
                f"second read {statistics.median(warm_s) * 1e3:.2f} ms; collection "
                f"memory_bytes {memory / raw:.3f}x the cells (columns included)")
    if "postgres" in systems:
        pg = Postgres(tmp, args.pg_shared_buffers)
        pg.start()
        try:
            buf = pg_copy_buffer(w, emb)
            conn = pg.conn
            total_s = []
            for r in range(-args.warmup, args.reps):
                with conn.cursor() as c:
                    c.execute("DROP TABLE IF EXISTS docs_emb")
                conn.autocommit = False
                t0 = time.perf_counter()
                with conn.cursor() as c:
                    c.execute("SET LOCAL synchronous_commit = on")
                    c.execute("CREATE TABLE docs_emb (id text, domain text, length int4, "
                              "quality real, perplexity real, edu real, emb real[])")
                    c.copy_expert("COPY docs_emb FROM STDIN (FORMAT binary)",
                                  io.BytesIO(buf))
                    c.execute("ALTER TABLE docs_emb ADD PRIMARY KEY (id)")
                conn.commit()
                conn.autocommit = True
                if r >= 0:
                    total_s.append(time.perf_counter() - t0)
            with conn.cursor() as c:
                c.execute("SELECT count(*), array_length(emb, 1) FROM docs_emb "
                          "GROUP BY 2")
                check("PostgreSQL rows with embeddings", c.fetchall(), [(n, dim)])
                c.execute("DROP TABLE docs_emb")
            del buf
            res.add(EMB_IMPORT, "PostgreSQL COPY+PK", "docs/s", [n / s for s in total_s])
        finally:
            pg.stop()


CHECK_FAILURES = []


def check(what, got, want):
    if got != want:
        msg = f"{what}: got {got}, expected {want}"
        CHECK_FAILURES.append(msg)
        log("CHECK FAILED", msg)


# --------------------------------------------------------------------------
# The table

# (operation, peer system, least ratio Winnow/peer) and absolute targets.
TARGETS = [
    ("ingest (durable)", "PostgreSQL COPY+PK", 0.8),
    ("ingest (durable)", "Redis --pipe (in memory)", 8.0),
    ("filter count", "PostgreSQL", 20.0),
    ("filter fetch ids", "PostgreSQL", 5.0),
    ("weighted sample", "PostgreSQL ES ORDER BY", 15.0),
    ("weighted sample", "numpy Gumbel top-k", 1.0),
    ("weighted sample, IDS view", "PostgreSQL ES ORDER BY", 5.0),
    ("uniform sample", "PostgreSQL ORDER BY random()", 15.0),
    ("uniform sample", "Redis ZRANDMEMBER", 6.0),
    ("GetScores 1 id/call", "PostgreSQL prepared", 1.0),
    (STREAM_LOCKSTEP, "PostgreSQL prepared", 1.0),
    ("PutScores 100k", "PostgreSQL UPDATE FROM unnest", 8.0),
    (EMB_IMPORT, "PostgreSQL COPY+PK", 2.0),
]
ABSOLUTE = {
    ("GetScores batches of 1,000", "Winnow"): (">=", 1e6, "ids/s"),
    ("first batch of a new weighted plan", "Winnow"): ("<=", 10.0, "ms"),
    ("stream an existing plan, packed ids", "Winnow"): (">=", 20e6, "ids/s"),
    ("stream an existing plan, IDS view", "Winnow"): (">=", 5e6, "ids/s"),
    ("server RSS after load", "Winnow"): ("<", 200.0, "MiB"),
}
TARGETS += nearest.TARGETS
HIGHER_IS_BETTER = {"docs/s": True, "ids/s": True, "GB/s": True, "ms": False, "MiB": False,
                    "s": False, "1-cos": False}


def build_table(res):
    order = []
    for r in res.rows:
        if r["op"] not in order:
            order.append(r["op"])
    lines = []
    for op in order:
        rows = [r for r in res.rows if r["op"] == op]
        rows.sort(key=lambda r: r["system"] != "Winnow")
        win = next((r for r in rows if r["system"] == "Winnow"), None)
        for r in rows:
            v = r["values"]
            med, lo, hi = statistics.median(v), min(v), max(v)
            ratio, target, status = "", "", ""
            if win is not None and r is not win:
                wm = statistics.median(win["values"])
                x = wm / med if HIGHER_IS_BETTER[r["unit"]] else med / wm
                ratio = f"{x:.2f}x"
                for top, sys_, least in TARGETS:
                    if top == op and sys_ == r["system"]:
                        target = f">= {least:g}x"
                        status = "met" if x >= least else "MISSED"
                r["ratio"] = x
            if (op, r["system"]) in ABSOLUTE:
                cmp, bound, unit = ABSOLUTE[(op, r["system"])]
                target = f"{cmp} {fmt(bound)} {unit}"
                ok = {">=": med >= bound, "<=": med <= bound, "<": med < bound}[cmp]
                status = "met" if ok else "MISSED"
            r.update(median=med, min=lo, max=hi, target=target, status=status)
            lines.append((op if r is rows[0] else "", r["system"], r["unit"], fmt(med),
                          f"{fmt(lo)} .. {fmt(hi)}", ratio, target, status))
    head = ("operation", "system", "unit", "median", "min .. max", "Winnow/peer",
            "target", "")
    widths = [max(len(str(x[i])) for x in [head] + lines) for i in range(len(head))]
    out = []
    sep = "+".join("-" * (w + 2) for w in widths)
    out.append(" | ".join(str(h).ljust(w) for h, w in zip(head, widths)))
    out.append(sep)
    for ln in lines:
        if ln[0] and len(out) > 2:
            out.append(sep)
        out.append(" | ".join(str(x).ljust(w) for x, w in zip(ln, widths)))
    return "\n".join(out)


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    return dict(nproc=os.cpu_count(), cpu=cpu, mem_gib=round(mem_kb / 2**20, 1),
                kernel=platform.release(), loadavg=os.getloadavg())


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="documents (<= 9,999,999)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per figure")
    ap.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--single-lookups", type=int, default=None,
                    help="GetScores one-id calls per repetition (default min(10000, N/10))")
    ap.add_argument("--winnowd", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--echo", default=None,
                    help="winnow_bench_echo (default: next to --client)")
    ap.add_argument("--results", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--pg-shared-buffers", default="4GB")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds for the whole run")
    ap.add_argument("--systems", default="winnow,echo,postgres,redis,numpy")
    ap.add_argument("--embeddings", action="store_true",
                    help="also import N documents with --emb-dim float32 embeddings "
                         "(Winnow, PostgreSQL emb real[], the disk's write bandwidth)")
    ap.add_argument("--emb-dim", type=int, default=256)
    ap.add_argument("--embeddings-only", action="store_true",
                    help="run only the --embeddings rows")
    ap.add_argument("--keep-plans", action="store_true",
                    help="keep every timed k-sample plan alive (RSS after queries "
                         "then includes them; the whole-epoch first-batch row's "
                         "plans, which hold every candidate, are still deleted)")
    ap.add_argument("--nearest", action="store_true",
                    help="also the Nearest rows: N x 256 embeddings, FAISS "
                         "(bench/compare/nearest.py; minutes and ~4 GiB at N = 1M)")
    ap.add_argument("--scorers", action="store_true",
                    help="also the embedding scorer rows: k-means against FAISS and "
                         "Sample latency while a k-means job runs "
                         "(bench/compare/scorers.py; minutes of both cores at N = 1M)")
    ap.add_argument("--kmeans-k", type=int, default=1000)
    ap.add_argument("--kmeans-iterations", type=int, default=10)
    ap.add_argument("--load-seconds", type=float, default=10.0,
                    help="--scorers: seconds of each idle Sample load measurement")
    ap.add_argument("--nearest-client", default=None,
                    help="winnow_bench_nearest (default: next to --client)")
    args = ap.parse_args()
    if args.nearest_client is None:
        args.nearest_client = os.path.join(os.path.dirname(args.client),
                                           "winnow_bench_nearest")
    if not 1000 <= args.n <= 9_999_999:
        ap.error("--n must be in [1000, 9999999]")
    if args.single_lookups is None:
        args.single_lookups = min(10_000, args.n // 10)
    systems = set(args.systems.split(","))
    args.embeddings = args.embeddings or args.embeddings_only
    if args.echo is None:
        args.echo = os.path.join(os.path.dirname(args.client), "winnow_bench_echo")

    def on_alarm(signum, frame):
        raise Timeout(f"the bench passed its --timeout of {args.timeout} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    signal.alarm(args.timeout)

    started = time.time()
    k = min(100_000, args.n // 10)
    log(f"N = {args.n}, k = {k}, reps = {args.reps}, warm-up = {args.warmup}")
    w = make_workload(args.n, args.seed, k)
    w["expected_count"] = expected_filter_count(w)
    log(f"workload generated in {time.time() - started:.1f} s; "
        f"filter matches {w['expected_count']} ({100 * w['expected_count'] / args.n:.2f}%)")

    tmp = tempfile.mkdtemp(prefix="winnow-bench-")
    os.chmod(tmp, 0o755)
    data = os.path.join(tmp, "workload")
    os.mkdir(data)
    write_workload(w, data)
    res = Results()
    versions = {}
    pg = rd = None
    main_systems = set() if args.embeddings_only else systems
    try:
        if "winnow" in main_systems:
            bench_winnow(w, args, res, tmp, data)
        if "echo" in main_systems:
            bench_echo(w, args, res, data)
        if "postgres" in main_systems:
            pg = Postgres(tmp, args.pg_shared_buffers)
            pg.start()
            versions["postgres"] = pg.version
            bench_postgres(pg, w, args, res)
            pg.stop()
        if "redis" in main_systems:
            rd = Redis(tmp)
            rd.start()
            versions["redis"] = rd.version
            bench_redis(rd, w, args, res, tmp)
            rd.stop()
        if "numpy" in main_systems:
            versions["numpy"] = np.__version__
            bench_numpy(w, args, res)
        if args.nearest:
            versions["faiss"] = bench_nearest(w, args, res, tmp, data)
        if args.scorers:
            versions["faiss"] = bench_scorers(w, args, res, tmp, data)
        if args.embeddings:
            bench_embeddings(w, args, res, tmp, data, systems)
    finally:
        signal.alarm(0)
        if pg:
            pg.stop()
        if rd:
            rd.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    table = build_table(res)
    elapsed = time.time() - started
    info = machine()
    print(f"Winnow vs PostgreSQL {versions.get('postgres', '-')}, Redis "
          f"{versions.get('redis', '-')}, numpy {versions.get('numpy', '-')}: "
          f"N = {args.n}, k = {k}, {len(w['update_idx'])} score updates, "
          f"median of {args.reps} after {args.warmup} warm-up")
    print(f"machine: {info['nproc']} cores, {info['cpu']}, {info['mem_gib']} GiB; "
          f"load average at the end {info['loadavg'][0]:.2f}")
    print("ratio = how many times Winnow is faster (or smaller); > 1 is better for Winnow")
    print()
    print(table)
    print()
    for r in res.rows:
        if r.get("note") and (r["op"] in (EMB_IMPORT, EMB_LOAD)
                              or r["op"] in scorers.NOTE_OPS):
            print(f"{r['op']}, {r['system']}: {r['note']}")
    missed = [r for r in res.rows if r.get("status") == "MISSED"]
    met = [r for r in res.rows if r.get("status") == "met"]
    print("not measured here: SemDeDup (no server-side scorer yet); k-means with --scorers,")
    print("  kNN with --nearest; Redis has no weighted sample; numpy is in-process (no")
    print("  ingest, lookups or durable updates).")
    if args.nearest:
        print("--nearest: the Nearest rows above are measured, FAISS IndexFlatIP included.")
    print(f"targets: {len(met)} met, {len(missed)} missed; "
          f"checks: {'all passed' if not CHECK_FAILURES else '; '.join(CHECK_FAILURES)}")
    print(f"bench done in {elapsed:.1f} s")

    os.makedirs(args.results, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = os.path.join(args.results, f"compare-{stamp}-n{args.n}")
    with open(base + ".json", "w") as f:
        json.dump(dict(n=args.n, k=k, reps=args.reps, warmup=args.warmup, seed=args.seed,
                       machine=info, versions=versions, elapsed_s=elapsed,
                       checks=CHECK_FAILURES, rows=res.rows, table=table), f, indent=1)
    with open(base + ".csv", "w", newline="") as f:
        cw = csv.writer(f)
        cw.writerow(["operation", "system", "unit", "median", "min", "max",
                     "ratio_winnow_over_peer", "target", "status"])
        for r in res.rows:
            cw.writerow([r["op"], r["system"], r["unit"], r["median"], r["min"], r["max"],
                         r.get("ratio", ""), r["target"], r["status"]])
    print(f"saved {base}.json and {base}.csv")
    return 1 if CHECK_FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
