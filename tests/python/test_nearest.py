"""Client.nearest through a real winnowd, against a numpy brute-force
reference: by vector and by id, cosine and dot, with a filter, and a bad
argument."""

from __future__ import annotations

import unittest

import numpy as np

import winnow
from winnowd import Winnowd


class NearestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Winnowd()
        cls.client = winnow.Client(cls.server.address)
        rng = np.random.default_rng(7)
        cls.n, cls.dim = 300, 16
        cls.ids = [f"d{i:03d}" for i in range(cls.n)]
        cls.emb = rng.standard_normal((cls.n, cls.dim)).astype(np.float32)
        cls.client.create_collection("c", embedding_dimension=cls.dim)
        cls.client.upsert("c", columns={
            "ids": cls.ids, "lengths": np.arange(cls.n),
            "embeddings": cls.emb}, batch_size=100)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.stop()

    def reference(self, query, k, metric, exclude=None, candidates=None):
        """(ids, similarities) of the k best, ties by id."""
        e = self.emb.astype(np.float64)
        q = np.asarray(query, np.float64)
        if metric == "cosine":
            sims = e @ q / (np.linalg.norm(e, axis=1) * np.linalg.norm(q))
        else:
            sims = e @ q
        order = sorted((i for i in range(self.n)
                        if i != exclude and (candidates is None or i in candidates)),
                       key=lambda i: (-sims[i], self.ids[i]))[:k]
        return [self.ids[i] for i in order], sims[order]

    def check(self, got, want_ids, want_sims):
        self.assertEqual(got.ids, want_ids)
        np.testing.assert_allclose(got.similarities, want_sims, rtol=1e-4,
                                   atol=1e-5)
        self.assertEqual(got.similarities.dtype, np.float32)
        self.assertEqual(got.ordinals.dtype, np.uint64)
        self.assertEqual(got.ordinals.tolist(),
                         [self.ids.index(i) for i in want_ids])

    def test_vectors_then_ids_cosine_and_dot(self):
        queries = np.random.default_rng(1).standard_normal((2, self.dim))
        for metric in ("cosine", "dot"):
            res = self.client.nearest("c", vectors=queries, ids=["d005"], k=5,
                                      metric=metric)
            self.assertEqual([r.query_id for r in res], ["", "", "d005"])
            for r, q in zip(res, queries):
                self.check(r, *self.reference(q, 5, metric))
            self.check(res[2], *self.reference(self.emb[5], 5, metric,
                                               exclude=5))

    def test_one_vector_include_self_and_filter(self):
        res = self.client.nearest("c", ids=["d010"], k=3, include_self=True)
        self.assertEqual(res[0].ids[0], "d010")
        self.assertAlmostEqual(float(res[0].similarities[0]), 1.0, places=5)
        res = self.client.nearest("c", vectors=self.emb[10], k=4,
                                  filter="length >= 150")
        self.check(res[0], *self.reference(self.emb[10], 4, "cosine",
                                           candidates=set(range(150, 300))))

    def test_bad_arguments(self):
        with self.assertRaises(ValueError):
            self.client.nearest("c", ids=["d000"], metric="l2")
        with self.assertRaises(winnow.InvalidArgument):
            self.client.nearest("c", vectors=np.ones(self.dim + 1), k=1)
        with self.assertRaises(winnow.NotFound):
            self.client.nearest("nope", ids=["d000"])


if __name__ == "__main__":
    unittest.main()
