"""The target_similarity scorer through a real winnowd, against a numpy
reference: the cosine of each embedding with the normalized mean of the
unit target vectors, or the greatest cosine over the target's centroids
(with targets planted in tight, far-apart groups, whose centroids are the
groups' normalized means); float32 and float16 collections, a filter, and
every bad input of the scorer."""

from __future__ import annotations

import math
import unittest

import numpy as np

import winnow
from winnow.v1 import operation_pb2, scorer_pb2
from winnowd import Winnowd

DIM = 16


def unit(rows):
    rows = np.asarray(rows, dtype=np.float64)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows[norms[:, 0] > 0] / norms[norms[:, 0] > 0]


def reference(embeddings, directions):
    """Greatest cosine of each row with a unit direction; 0 for a zero row."""
    e = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1)
    dots = e @ np.asarray(directions, dtype=np.float64).T
    out = np.zeros(len(e))
    nz = norms > 0
    out[nz] = (dots[nz] / norms[nz, None]).max(axis=1)
    return out


def mean_direction(targets):
    m = unit(targets).mean(axis=0)
    return m / np.linalg.norm(m)


class TargetSimilarityTest(unittest.TestCase):
    def setUp(self):
        self.server = Winnowd()
        self.addCleanup(self.server.stop)
        self.client = winnow.Client(self.server.address)
        self.addCleanup(self.client.close)

    def load(self, name, dtype, seed, n=900):
        """n documents (every 50th a zero row), domains a/b; returns the ids
        and the embeddings as the server stores them."""
        rng = np.random.default_rng(seed)
        emb = rng.normal(size=(n, DIM)).astype(np.float32)
        emb[::50] = 0
        if dtype == "float16":
            emb = emb.astype(np.float16).astype(np.float32)
        ids = [f"d{i:04d}" for i in range(n)]
        self.client.create_collection(name, embedding_dimension=DIM,
                                      embedding_dtype=dtype)
        self.client.upsert(name, columns={
            "ids": ids, "domains": ["a" if i % 3 == 0 else "b" for i in range(n)],
            "embeddings": emb}, batch_size=300)
        return ids, emb

    def run_scorer(self, name, scorer, filter=""):
        progress = []
        op = self.client.compute_scores(
            name, scorer_pb2.Scorer(target_similarity=scorer), filter=filter,
            progress=progress.append)
        self.assertEqual(op.state, operation_pb2.OPERATION_STATE_SUCCEEDED)
        fractions = [p.progress_fraction for p in progress]
        self.assertEqual(fractions, sorted(fractions))
        return op

    def scores(self, name, ids, score):
        return np.array(self.client.get_scores(name, ids=ids, names=[score])
                        .columns[score], dtype=np.float64)

    def test_mean_of_ids_and_vectors_equals_numpy(self):
        for dtype, seed in (("float32", 1), ("float16", 2), ("float32", 3)):
            name = f"c_{dtype}_{seed}"
            ids, emb = self.load(name, dtype, seed)
            rng = np.random.default_rng(seed + 100)
            target_rows = rng.choice(len(ids), size=7, replace=False)
            extra = rng.normal(size=(3, DIM)).astype(np.float32)
            op = self.run_scorer(name, scorer_pb2.TargetSimilarityScorer(
                target_ids=[ids[i] for i in target_rows],
                target_vectors=extra.reshape(-1).tolist()))
            result = op.compute_scores_result
            self.assertEqual(list(result.score_names), ["target_similarity"])
            self.assertEqual(result.document_count, len(ids))
            targets = np.vstack([emb[target_rows], extra])
            want = reference(emb, [mean_direction(targets)])
            got = self.scores(name, ids, "target_similarity")
            np.testing.assert_allclose(got, want, atol=2e-6, err_msg=name)
            self.assertTrue(np.all(got[::50] == 0))

    def test_centroids_of_planted_target_groups_and_a_filter(self):
        ids, emb = self.load("c", "float32", 9)
        rng = np.random.default_rng(10)
        centers = unit(rng.normal(size=(3, DIM)))
        groups = [c + rng.normal(scale=1e-3, size=(5, DIM)) for c in centers]
        targets = np.vstack(groups).astype(np.float32)
        scorer = scorer_pb2.TargetSimilarityScorer(
            target_vectors=targets.reshape(-1).tolist(), centroid_count=3,
            seed=4, similarity_score="near_target")
        self.run_scorer("c", scorer, filter='domain == "b"')
        directions = [mean_direction(g.astype(np.float32)) for g in groups]
        want = reference(emb, directions)
        got = self.scores("c", ids, "near_target")
        for i in range(len(ids)):
            if i % 3 == 0:
                self.assertTrue(math.isnan(got[i]), ids[i])
            else:
                self.assertAlmostEqual(got[i], want[i], delta=2e-6, msg=ids[i])

    def test_bad_input_names_the_field(self):
        ids, _ = self.load("c", "float32", 5, n=60)
        self.client.create_collection("plain")
        self.client.upsert("plain", columns={"ids": ["x"]})
        cases = [
            ("c", dict(target_ids=["nope"]), winnow.NotFound, "target_ids[0]"),
            ("c", dict(target_vectors=[1.0] * (DIM + 1)), winnow.InvalidArgument,
             "target_vectors"),
            ("c", dict(target_vectors=[math.nan] + [1.0] * (DIM - 1)),
             winnow.InvalidArgument, "target_vectors[0]"),
            ("c", dict(), winnow.InvalidArgument, "target_ids"),
            ("c", dict(target_ids=ids[:2], centroid_count=3), winnow.InvalidArgument,
             "centroid_count"),
            ("c", dict(target_ids=ids[:2], centroid_count=-1), winnow.InvalidArgument,
             "centroid_count"),
            ("c", dict(target_ids=ids[:2], similarity_score="domain"),
             winnow.InvalidArgument, "similarity_score"),
            ("plain", dict(target_vectors=[1.0] * DIM), winnow.FailedPrecondition,
             "embedding"),
        ]
        for collection, fields, error, field in cases:
            with self.subTest(fields=fields):
                with self.assertRaises(error) as e:
                    self.client.compute_scores(collection, scorer_pb2.Scorer(
                        target_similarity=scorer_pb2.TargetSimilarityScorer(**fields)))
                self.assertIn(field, str(e.exception))
        # All-zero targets are found in the job: it fails, writing nothing.
        with self.assertRaises(winnow.InvalidArgument) as e:
            self.client.compute_scores("c", scorer_pb2.Scorer(
                target_similarity=scorer_pb2.TargetSimilarityScorer(
                    target_ids=[ids[0]])))
        self.assertIn("direction", str(e.exception))
        # No score column was written.
        with self.assertRaises(winnow.InvalidArgument):
            self.scores("c", ids, "target_similarity")


if __name__ == "__main__":
    unittest.main()
