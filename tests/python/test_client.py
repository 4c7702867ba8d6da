"""winnow.Client against a real winnowd: every method, and bad input that
surfaces as an exception with the right gRPC code and a message naming the
field."""

from __future__ import annotations

import hashlib
import threading
import unittest

import grpc
import numpy as np

import winnow
from winnowd import Winnowd


class ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Winnowd()
        cls.addClassCleanup(cls.server.stop)  # also when setUpClass fails
        cls.client = winnow.Client(cls.server.address)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def fresh(self, name: str, **kwargs) -> str:
        self.client.delete_collection(name, allow_missing=True)
        self.client.create_collection(name, **kwargs)
        return name

    def load(self, name: str, n: int = 100) -> None:
        self.client.upsert(name, columns={
            "ids": [f"d{i:03d}" for i in range(n)],
            "domains": ["web" if i % 3 else "code" for i in range(n)],
            "lengths": np.arange(n) + 10,
            "payloads": [f"text {i}" for i in range(n)],
            "scores": {"quality": np.where(np.arange(n) % 10 == 0, np.nan,
                                           np.arange(n) / 100.0)},
            "attributes": {"lang": ["en" if i % 2 else "de" for i in range(n)]},
        }, batch_size=30)

    def test_collections(self):
        c = self.client
        made = c.create_collection("coll-a", embedding_dimension=4,
                                   embedding_dtype="float16")
        self.assertEqual(made.name, "coll-a")
        self.assertEqual(made.embedding_dimension, 4)
        with self.assertRaises(winnow.AlreadyExists) as e:
            c.create_collection("coll-a")
        self.assertEqual(e.exception.code, grpc.StatusCode.ALREADY_EXISTS)
        self.assertIn("coll-a", e.exception.message)
        self.assertEqual(c.create_collection("coll-a", exist_ok=True).name, "coll-a")
        self.assertEqual(c.get_collection("coll-a").embedding_dimension, 4)
        self.assertIn("coll-a", [x.name for x in c.list_collections()])
        self.assertTrue(c.delete_collection("coll-a"))
        self.assertFalse(c.delete_collection("coll-a", allow_missing=True))
        with self.assertRaises(winnow.NotFound):
            c.get_collection("coll-a")
        with self.assertRaises(winnow.NotFound):
            c.delete_collection("coll-a")
        with self.assertRaises(winnow.InvalidArgument) as e:
            c.create_collection("Bad Name!")
        self.assertIn("name", e.exception.message)
        with self.assertRaises(ValueError):
            c.create_collection("coll-b", embedding_dtype="int8")

    def test_upsert_rows_and_columns_then_read_back(self):
        c = self.client
        name = self.fresh("docs", embedding_dimension=2)
        r = c.upsert(name, [
            {"id": "a", "domain": "web", "length": 5, "payload": "hello",
             "attributes": {"lang": "en"}, "embedding": [1.0, 2.0],
             "scores": {"quality": 0.5}},
            {"id": "b", "domain": "code", "length": 7, "embedding": [0.0, 0.0]},
        ])
        self.assertEqual((r.document_count, r.created_count, r.batch_count), (2, 2, 1))
        r = c.upsert(name, columns={"ids": ["b", "c"], "domains": "web",
                                    "lengths": [8, 9],
                                    "embeddings": np.array([[0, 1], [1, 0]]),
                                    "scores": {"quality": [np.nan, 0.25]}})
        self.assertEqual((r.created_count, r.replaced_count), (1, 1))
        docs = c.get_documents(name, ids=["a", "b", "c"])
        self.assertEqual([d.id for d in docs], ["a", "b", "c"])
        self.assertEqual(docs[0].payload, b"hello")
        self.assertEqual(dict(docs[0].attributes), {"lang": "en"})
        self.assertEqual(docs[1].domain, "web")  # replaced by the columns
        self.assertEqual(docs[1].length, 8)
        self.assertNotIn("quality", docs[1].scores)  # NaN is null
        self.assertAlmostEqual(docs[2].scores["quality"], 0.25)
        emb = c.get_documents(name, ordinals=[docs[0].ordinal], fields=["embedding"])
        self.assertEqual(list(emb[0].embedding), [1.0, 2.0])
        self.assertEqual(c.delete_documents(name, ["c"]), 1)
        with self.assertRaises(winnow.NotFound) as e:
            c.get_documents(name, ids=["c"])
        self.assertIn("c", e.exception.message)
        self.assertEqual(c.get_documents(name, ids=["c", "a"], allow_missing=True)[0].id, "a")
        with self.assertRaises(winnow.NotFound):
            c.delete_documents(name, ["zzz"])

    def test_a_refused_batch_raises_and_earlier_batches_stay(self):
        c = self.client
        name = self.fresh("refused")
        docs = [{"id": f"x{i}", "length": 1} for i in range(10)]
        docs.append({"id": "bad", "length": -1})
        with self.assertRaises(winnow.InvalidArgument) as e:
            c.upsert(name, docs, batch_size=5, max_in_flight=1)
        self.assertIn("length", e.exception.message)
        self.assertIn("3", e.exception.message)  # the batch's sequence
        self.assertEqual(c.count(name).count, 10)

    def test_upsert_resends_unacknowledged_batches_after_a_server_restart(self):
        c = winnow.Client(self.server.address)
        name = self.fresh("restart")
        n_batches, per_batch = 40, 50
        restarted = threading.Event()

        def rows():
            for i in range(n_batches * per_batch):
                if i == 10 * per_batch and not restarted.is_set():
                    self.server.restart()  # SIGKILL, then the same port
                    restarted.set()
                yield {"id": f"r{i:05d}", "length": i % 7}

        r = c.upsert(name, rows(), batch_size=per_batch, max_in_flight=4)
        self.assertTrue(restarted.is_set())
        self.assertGreaterEqual(r.reconnects, 1)
        self.assertEqual(r.batch_count, n_batches)
        self.assertEqual(r.document_count, n_batches * per_batch)
        self.assertEqual(c.count(name).count, n_batches * per_batch)
        c.close()
        # The class's client reconnects too.
        self.assertEqual(self.client.count(name).count, n_batches * per_batch)

    def test_scores(self):
        c = self.client
        name = self.fresh("scores")
        self.load(name, 20)
        n = c.put_scores(name, {"loss": [1.0, np.nan, 3.0]}, ids=["d001", "d002", "d003"])
        self.assertEqual(n, 3)
        s = c.get_scores(name, ids=["d001", "d002", "d003"], names=["loss", "quality"])
        self.assertEqual(s.ids, ["d001", "d002", "d003"])
        np.testing.assert_array_equal(s.columns["loss"], np.array([1, np.nan, 3], np.float32))
        np.testing.assert_allclose(s.columns["quality"], [0.01, 0.02, 0.03], rtol=1e-6)
        self.assertEqual(s.ordinals.dtype, np.uint64)
        by_ordinal = c.get_scores(name, ordinals=s.ordinals[:1], names=["loss"])
        self.assertEqual(by_ordinal.ids, ["d001"])
        self.assertEqual(c.put_scores(name, {"loss": [7.0]}, ordinals=s.ordinals[2:]), 1)
        self.assertEqual(c.get_scores(name, ids=["d003"], names=["loss"]).columns["loss"][0], 7.0)
        with self.assertRaises(winnow.NotFound) as e:
            c.put_scores(name, {"loss": [1.0]}, ids=["nope"])
        self.assertIn("nope", e.exception.message)
        self.assertEqual(c.put_scores(name, {"loss": [1.0]}, ids=["nope"], allow_missing=True), 0)
        missing = c.get_scores(name, ids=["nope", "d001"], allow_missing=True)
        self.assertEqual((missing.ids, missing.missing_ids), (["d001"], ["nope"]))
        with self.assertRaises(winnow.InvalidArgument) as e:
            c.put_scores(name, {"loss": [float("inf")]}, ids=["d001"])
        self.assertIn("loss", e.exception.message)
        with self.assertRaises(ValueError):
            c.put_scores(name, {"loss": [1.0]})

    def test_count_and_filter(self):
        c = self.client
        name = self.fresh("select")
        self.load(name, 100)
        r = c.count(name, 'domain == "web"', group_by_domain=True,
                    histograms=["quality", {"column": "length", "bin_count": 5,
                                            "percentiles": [50]}])
        self.assertEqual(r.count, 66)
        self.assertEqual([d.domain for d in r.domains], ["web"])
        self.assertEqual(r.histograms[0].column, "quality")
        self.assertEqual(len(r.histograms[1].bin_counts), 5)
        self.assertEqual(sum(r.histograms[1].bin_counts), 66)
        with self.assertRaises(winnow.InvalidArgument) as e:
            c.count(name, "quality >")
        self.assertRegex(e.exception.message, r"1:\d+")
        ids = c.filter(name, "quality >= 0.9", score_names=["quality"])
        self.assertEqual(ids.ids, [f"d{i:03d}" for i in range(91, 100)])
        self.assertEqual(ids.total_count, 9)
        np.testing.assert_allclose(ids.scores["quality"], np.arange(91, 100) / 100, rtol=1e-6)
        ords = c.filter(name, "quality >= 0.9", view="ordinals")
        self.assertEqual(ords.ordinals.dtype, np.uint64)
        self.assertEqual(len(ords.ordinals), 9)
        self.assertTrue(np.all(np.diff(ords.ordinals.astype(np.int64)) > 0))
        full = c.filter(name, 'attr.lang == "de"', view="full", fields=["payload"],
                        max_results=3)
        self.assertEqual([d.payload for d in full.documents],
                         [b"text 0", b"text 2", b"text 4"])
        with self.assertRaises(ValueError):
            c.filter(name, view="packed")
        with self.assertRaises(winnow.NotFound):
            c.filter("no-such-collection")

    def test_sample_resume_and_plans(self):
        c = self.client
        name = self.fresh("sample")
        self.load(name, 100)
        plan = dict(batch_size=10, seed=5, run_id="r1", num_epochs=1)
        full = {b.global_batch_index: b.ids for b in c.sample(name, **plan)}
        self.assertEqual(sorted(full), list(range(10)))
        self.assertEqual(sorted(sum(full.values(), [])), [f"d{i:03d}" for i in range(100)])
        # Rank 1 of 2 reads two batches, then the run resumes on 3 ranks.
        first = list(c.sample(name, **plan, rank=1, world_size=2, max_batches=2))
        self.assertEqual([b.global_batch_index for b in first], [1, 3])
        self.assertIsNotNone(first[0].plan)
        cursor = first[-1].cursor
        self.assertEqual(winnow.cursor_position(cursor).next_global_batch, 4)
        resumed = {}
        for rank in range(3):
            for b in c.sample(cursor=cursor, rank=rank, world_size=3):
                resumed[b.global_batch_index] = b.ids
        self.assertEqual(sorted(resumed), [4, 5, 6, 7, 8, 9])
        for j, ids in resumed.items():
            self.assertEqual(ids, full[j])
        weighted = list(c.sample(name, batch_size=4, seed=1, num_epochs=1, max_batches=1,
                                 filter="quality > 0", view="ordinals",
                                 score_names=["quality"],
                                 strategy={"weighted": {"score": "quality",
                                                        "weightFunction": "WEIGHT_FUNCTION_POWER",
                                                        "alpha": 2}}))
        self.assertEqual(len(weighted[0].ordinals), 4)
        self.assertTrue(np.all(weighted[0].scores["quality"] > 0))
        self.assertEqual(len(weighted[0].lengths), 4)
        with self.assertRaises(winnow.InvalidArgument) as e:
            list(c.sample(name, **plan, rank=2, world_size=2))
        self.assertIn("rank", e.exception.message)
        with self.assertRaises(winnow.InvalidArgument) as e:
            list(c.sample(cursor="not-a-cursor"))
        self.assertIn("cursor", e.exception.message)
        with self.assertRaises(winnow.InvalidArgument):
            list(c.sample(name, seed=1))  # no batching
        plans = c.list_plans(collection=name, run_id="r1")
        self.assertEqual([p.plan_id for p in plans], [first[0].plan_id])
        self.assertEqual(plans[0].candidate_count, 100)
        self.assertTrue(c.delete_plan(first[0].plan_id))
        self.assertFalse(c.delete_plan(first[0].plan_id, allow_missing=True))
        with self.assertRaises(winnow.NotFound):
            c.delete_plan(first[0].plan_id)
        with self.assertRaises(winnow.FailedPrecondition) as e:
            list(c.sample(cursor=cursor))
        self.assertIn("plan", e.exception.message)

    def test_backup_and_server_info(self):
        c = self.client
        self.fresh("backed-up")
        seen = []
        backup = c.backup(request_id="b-1", progress=seen.append)
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0].done)
        self.assertGreater(backup.size_bytes, 0)
        self.assertEqual(c.backup(request_id="b-1").backup_id, backup.backup_id)
        self.assertIn(backup.backup_id, [b.backup_id for b in c.list_backups()])
        info = c.server_info()
        self.assertEqual(info.version, "0.1.0")
        self.assertGreater(info.limits.max_message_bytes, 0)

    def test_an_unreachable_server_is_unavailable(self):
        with winnow.Client("127.0.0.1:1", timeout=2) as c:
            with self.assertRaises(winnow.Unavailable) as e:
                c.list_collections()
            self.assertEqual(e.exception.code, grpc.StatusCode.UNAVAILABLE)


class TokenTest(unittest.TestCase):
    def test_a_missing_or_wrong_token_is_unauthenticated(self):
        import os
        import tempfile
        with tempfile.TemporaryDirectory() as tmp:
            tokens = os.path.join(tmp, "tokens")
            with open(tokens, "w") as f:
                f.write(TOKEN_FILE)
            with Winnowd(["--tokens", tokens]) as d:
                with winnow.Client(d.address) as anonymous:
                    with self.assertRaises(winnow.Unauthenticated):
                        anonymous.list_collections()
                with winnow.Client(d.address, token="wrong-token-0123456789") as wrong:
                    with self.assertRaises(winnow.Unauthenticated):
                        wrong.list_collections()
                with winnow.Client(d.address, token=ADMIN_TOKEN) as admin:
                    admin.create_collection("tok")
                    self.assertEqual([x.name for x in admin.list_collections()], ["tok"])


ADMIN_TOKEN = "python-test-admin-token-0123456789"
# server/auth.h: the file holds the token's SHA-256, never the token.
TOKEN_FILE = "role=admin sha256=%s name=python-test\n" % hashlib.sha256(
    ADMIN_TOKEN.encode()).hexdigest()


if __name__ == "__main__":
    unittest.main()
