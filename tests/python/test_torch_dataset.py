"""winnow.torch.WinnowIterableDataset against a real winnowd: ranks x
workers are disjoint and complete (2 processes over gloo), and a training
loop killed mid-epoch resumes exactly from its state_dict, onto the same or
another world size and worker count."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
from typing import Dict, List, Tuple

import winnow
import train_loop
from winnowd import Winnowd

HERE = os.path.dirname(os.path.abspath(__file__))
N_DOCS = 230
BATCH = 5
BATCHES = N_DOCS // BATCH  # global batches per epoch: 46
EPOCHS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served(world: int, start: int = 0) -> int:
    """Global batches of an epoch served from `start` to `world` ranks with
    drop_last: every whole round of `world` batches (docs/sampling.md),
    whatever the number of workers."""
    return start + world * ((BATCHES - start) // world)


class DatasetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Winnowd()
        cls.addClassCleanup(cls.server.stop)  # also when setUpClass fails
        cls.client = winnow.Client(cls.server.address)
        cls.client.create_collection("train")
        ids = [f"d{i:03d}" for i in range(N_DOCS)]
        cls.client.upsert("train", columns={
            "ids": ids, "lengths": [10] * N_DOCS,
            "payloads": [train_loop.expected_payload(i) for i in ids]})
        cls.tmp = tempfile.mkdtemp(prefix="winnow-torch-")

    @classmethod
    def tearDownClass(cls):
        cls.client.close()

    def env(self) -> Dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(sys.path)
        return env

    def reference(self, run_id: str) -> Dict[Tuple[int, int], List[str]]:
        """Every batch of the plan, from one uninterrupted world-1 stream."""
        out = {}
        for b in self.client.sample("train", batch_size=BATCH, seed=11,
                                    run_id=run_id, num_epochs=EPOCHS):
            out[(b.epoch, b.global_batch_index)] = b.ids
        self.assertEqual(len(out), EPOCHS * BATCHES)
        return out

    def check_log(self, log, reference, expected_per_epoch: List[int]) -> None:
        """No batch repeated or skipped: each epoch's global batches are
        exactly 0..m-1, each with the plan's documents."""
        for epoch, m in enumerate(expected_per_epoch):
            indexes = [g for _, e, g, _ in log if e == epoch]
            self.assertEqual(len(indexes), len(set(indexes)), f"epoch {epoch} repeats a batch")
            self.assertEqual(sorted(indexes), list(range(m)), f"epoch {epoch}")
        for _, e, g, ids in log:
            self.assertEqual(ids, reference[(e, g)], f"epoch {e} batch {g}")

    def test_ranks_and_workers_are_disjoint_and_complete_over_gloo(self):
        world, workers = 2, 2
        run_id = "gloo"
        port = str(free_port())
        procs, outs = [], []
        for rank in range(world):
            out = os.path.join(self.tmp, f"gloo-{rank}.json")
            env = self.env()
            env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port,
                       RANK=str(rank), WORLD_SIZE=str(world))
            procs.append(subprocess.Popen(
                [sys.executable, os.path.join(HERE, "dist_worker.py"), self.server.address,
                 "train", run_id, str(workers), out], env=env))
            outs.append(out)
        for p in procs:
            self.assertEqual(p.wait(timeout=90), 0)
        results = []
        for out in outs:
            with open(out) as f:
                results.append(json.load(f))
        reference = self.reference(run_id)
        log = [entry for r in results for entry in r["log"]]
        per_epoch = served(world)
        self.check_log(log, reference, [per_epoch] * EPOCHS)
        for rank, r in enumerate(results):
            self.assertEqual(r["rank_world"], [rank, world])
            # Workers change nothing in what a rank reads: rank r trains on
            # global batches r, r + W, r + 2W, ... in that order.
            for epoch in range(EPOCHS):
                mine = [g for _, e, g, _ in r["log"] if e == epoch]
                self.assertEqual(mine, list(range(rank, per_epoch, world)))
        self.assertEqual(results[0]["state"], results[1]["state"])

    def killed_then_resumed(self, run_id: str, first: Tuple[int, int], kill_after: int,
                            second: Tuple[int, int], fetch: bool = False, on_step=None):
        """Trains on `first` = (world, workers), killed with SIGKILL during
        step kill_after + 1; resumes from its last checkpoint on `second`."""
        ckpt = os.path.join(self.tmp, run_id + ".json")
        cmd = [sys.executable, os.path.join(HERE, "train_loop.py"),
               "--address", self.server.address, "--collection", "train",
               "--run-id", run_id, "--world", str(first[0]), "--workers", str(first[1]),
               "--checkpoint", ckpt, "--kill-after", str(kill_after)]
        if fetch:
            cmd.append("--fetch")
        p = subprocess.run(cmd, env=self.env(), timeout=90)
        self.assertEqual(p.returncode, -signal.SIGKILL)
        with open(ckpt) as f:
            saved = json.load(f)
        # Every rank's state is the same after the same number of steps.
        for state in saved["states"]:
            self.assertEqual(state, saved["state"])
        self.assertEqual(len(saved["log"]), kill_after * first[0])
        final = train_loop.run(self.server.address, "train", run_id, second[0], second[1],
                               state=saved["state"], log=saved["log"], fetch=fetch,
                               on_step=on_step)
        return saved, final["log"]

    def expected_counts(self, first: Tuple[int, int], second: Tuple[int, int],
                        kill_after: int) -> List[int]:
        """Global batches per epoch: the first run's drop_last rounds up to
        the checkpoint, the second's after it."""
        v1, v2 = first[0], second[0]
        steps_per_epoch = served(v1) // first[0]
        epoch, step = divmod(kill_after, steps_per_epoch)
        position = step * first[0]
        counts = []
        for e in range(EPOCHS):
            if e < epoch:
                counts.append(served(v1))
            elif e == epoch:
                counts.append(served(v2, position))
            else:
                counts.append(served(v2))
        return counts

    def test_resume_on_the_same_world_equals_an_uninterrupted_run(self):
        # 2 ranks x 2 workers, killed in step 4: step 3 ended mid-round of
        # the workers, so the state carries a cursor plus 2 global batches.
        saved, log = self.killed_then_resumed("same", (2, 2), 3, (2, 2))
        self.assertEqual(saved["state"]["skip_batches"], 2)
        uninterrupted = train_loop.run(self.server.address, "train", "same", 2, 2)["log"]
        self.assertEqual(log, uninterrupted)
        self.check_log(log, self.reference("same"), [served(2)] * EPOCHS)

    def test_resume_onto_more_ranks_and_fewer_workers(self):
        saved, log = self.killed_then_resumed("grow", (2, 2), 5, (3, 1))
        self.check_log(log, self.reference("grow"), self.expected_counts((2, 2), (3, 1), 5))
        resumed = log[len(saved["log"]):]
        # The new ranks continue from global batch 10: rank r gets 10 + r,
        # 13 + r, ...
        first_epoch = [(r, g) for r, e, g, _ in resumed if e == 0]
        self.assertEqual(first_epoch[:6], [(0, 10), (1, 11), (2, 12), (0, 13), (1, 14), (2, 15)])

    def test_resume_onto_fewer_workers_per_rank_with_payloads(self):
        # 1 rank x 3 workers, killed in step 17 (16 % 3 == 1: mid-round);
        # resumed on 2 ranks x 2 workers; the fetch reads payloads in the
        # workers.
        saved, log = self.killed_then_resumed("shrink", (1, 3), 16, (2, 2), fetch=True)
        self.assertEqual(saved["state"]["skip_batches"], 1)
        self.check_log(log, self.reference("shrink"), self.expected_counts((1, 3), (2, 2), 16))

    def test_resume_in_the_second_epoch_through_a_server_restart(self):
        # 3 ranks x 1 worker: epoch 0 is 15 steps; killed in step 18. The
        # resumed run (1 rank x 2 workers) also sees winnowd SIGKILLed and
        # restarted after its 5th step: the workers reopen their streams
        # from their cursors.
        restarts = []

        def restart(step: int) -> None:
            if step == 5:
                self.server.restart()
                restarts.append(step)

        saved, log = self.killed_then_resumed("epoch1", (3, 1), 17, (1, 2), on_step=restart)
        self.assertEqual(restarts, [5])
        self.assertEqual(max(e for _, e, _, _ in saved["log"]), 1)
        self.check_log(log, self.reference("epoch1"), self.expected_counts((3, 1), (1, 2), 17))

    def test_without_drop_last_every_batch_is_served_across_a_resume(self):
        # 1 rank: 2 workers stop after 7 batches (mid-round), 3 workers
        # resume. Without drop_last every batch is served, the short last
        # one (230 = 32 * 7 + 6) included.
        import winnow.torch as wt

        def loader(workers: int) -> wt.WinnowDataLoader:
            return wt.WinnowDataLoader(wt.WinnowIterableDataset(
                self.server.address, "train", batch_size=7, seed=11, run_id="no-drop",
                num_epochs=1, drop_last=False, rank=0, world_size=1), num_workers=workers)

        first = []
        before = loader(2)
        for b in before:
            first.append((b["global_batch_index"], b["ids"]))
            if len(first) == 7:
                break
        state = before.state_dict()
        self.assertEqual(state["skip_batches"], 1)
        after = loader(3)
        after.load_state_dict(state)
        rest = [(b["global_batch_index"], b["ids"]) for b in after]
        everything = {b.global_batch_index: b.ids for b in self.client.sample(
            "train", batch_size=7, seed=11, run_id="no-drop", num_epochs=1, drop_last=False)}
        self.assertEqual(len(everything), 33)  # 32 batches of 7 and one of 6
        self.assertEqual([g for g, _ in first + rest], list(range(33)))
        for g, ids in first + rest:
            self.assertEqual(ids, everything[g])


if __name__ == "__main__":
    unittest.main()
