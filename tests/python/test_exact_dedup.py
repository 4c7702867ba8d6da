"""The exact_dedup scorer through a real winnowd, against a Python
reference (hashlib's SHA-256 over the payloads, first occurrence in
insertion order), on planted duplicates; then again after the stored hashes
are dropped (as a data directory from a release that kept none), so the job
backfills them."""

from __future__ import annotations

import hashlib
import math
import os
import random
import subprocess
import unittest

import winnow
from winnow.v1 import operation_pb2, scorer_pb2
from winnowd import Winnowd


def reference(payloads, scored):
    """id -> 1.0 / 0.0 / None (no payload), for the scored ids, in order."""
    seen, out = set(), {}
    for doc_id, payload in payloads:
        if doc_id not in scored:
            continue
        if payload is None:
            out[doc_id] = None
            continue
        h = hashlib.sha256(payload.encode()).digest()
        out[doc_id] = 1.0 if h in seen else 0.0
        seen.add(h)
    return out


class ExactDedupTest(unittest.TestCase):
    def setUp(self):
        self.server = Winnowd()
        self.addCleanup(self.server.stop)
        self.client = winnow.Client(self.server.address)
        self.addCleanup(self.client.close)

    def load(self, seed: int, start: int, n: int):
        rng = random.Random(seed)
        docs = []
        for i in range(start, start + n):
            payload = None if rng.random() < 0.1 else f"text {rng.randrange(60)}"
            docs.append((f"d{i:04d}", payload))
        self.client.upsert("c", columns={
            "ids": [d for d, _ in docs],
            "domains": ["a" if i % 3 == 0 else "b" for i in range(start, start + n)],
            "payloads": [p for _, p in docs],
        }, batch_size=100)
        return docs

    def run_and_check(self, docs, scored, filter=""):
        progress = []
        op = self.client.compute_scores(
            "c", scorer_pb2.Scorer(exact_dedup=scorer_pb2.ExactDedupScorer()),
            filter=filter, progress=progress.append)
        self.assertEqual(op.state, operation_pb2.OPERATION_STATE_SUCCEEDED)
        fractions = [p.progress_fraction for p in progress]
        self.assertEqual(fractions, sorted(fractions))
        self.assertEqual(fractions[-1], 1.0)
        self.check_scores(docs, reference(docs, scored), "exact_dup", op)
        return op

    def check_scores(self, docs, want, name, op):
        got = self.client.get_scores("c", ids=[d for d, _ in docs],
                                     names=[name]).columns[name]
        for (doc_id, _), value in zip(docs, got):
            if want.get(doc_id) is None:
                self.assertTrue(math.isnan(value), doc_id)
            else:
                self.assertEqual(value, want[doc_id], doc_id)
        dups = sum(1 for v in want.values() if v == 1.0)
        result = op.compute_scores_result
        self.assertEqual(list(result.score_names), [name])
        self.assertEqual(result.exact_dedup.duplicate_count, dups)
        self.assertEqual(result.exact_dedup.distinct_count,
                         len({p for d, p in docs if d in want and p is not None}))

    def test_planted_duplicates_with_and_without_a_filter(self):
        self.client.create_collection("c")
        docs = self.load(seed=7, start=0, n=600)
        self.run_and_check(docs, {d for d, _ in docs})
        # Over domain b only, into another score: documents of domain a
        # are not scored, so the first of each payload within b is 0.
        ids_b = {d for i, (d, _) in enumerate(docs) if i % 3 != 0}
        op = self.client.compute_scores(
            "c", scorer_pb2.Scorer(exact_dedup=scorer_pb2.ExactDedupScorer(
                duplicate_score="dup_b")), filter='domain == "b"')
        self.check_scores(docs, reference(docs, ids_b), "dup_b", op)

    def test_after_the_backfill_of_hashes_an_older_release_did_not_keep(self):
        self.client.create_collection("c")
        docs = self.load(seed=11, start=0, n=500)
        self.server.terminate()
        dropped = subprocess.run([os.environ["DROP_PAYLOAD_HASHES"], self.server.data_dir],
                                 check=True, capture_output=True, text=True).stdout
        self.assertEqual(int(dropped), sum(1 for _, p in docs if p is not None))
        self.server.start()
        # Newer documents get their hash at ingest; older ones by backfill.
        docs += self.load(seed=12, start=500, n=200)
        self.run_and_check(docs, {d for d, _ in docs})


if __name__ == "__main__":
    unittest.main()
