"""A data-parallel training loop over WinnowDataLoader, for the dataset tests.

It runs W ranks in one process, in lockstep as DDP does (every rank takes
one batch per step), each rank with its own WinnowIterableDataset (explicit
rank and world size) and its own DataLoader workers. After every step it
writes a checkpoint (atomically): rank 0's state_dict, every rank's
state_dict (they must agree) and the log of the batches trained on so far.

Run as a program, it can kill itself with SIGKILL in the middle of a step
(after taking the batches of step K+1, before checkpointing them), which is
a training job dying mid-epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any, Callable, Dict, List, Optional

import winnow.torch as wt


def expected_payload(doc_id: str) -> bytes:
    return ("payload of " + doc_id).encode()


def run(address: str, collection: str, run_id: str, world: int, workers: int,
        *, state: Optional[Dict[str, Any]] = None, log: Optional[List] = None,
        checkpoint: Optional[str] = None, kill_after: Optional[int] = None,
        num_epochs: int = 2, batch_size: int = 5, fetch: bool = False,
        on_step: Optional[Callable[[int], None]] = None) -> Dict[str, Any]:
    """Trains until the plan is exhausted; returns the last checkpoint.
    on_step(step) runs after each step's checkpoint."""
    log = list(log or [])
    loaders = []
    for rank in range(world):
        ds = wt.WinnowIterableDataset(
            address, collection, batch_size=batch_size, seed=11, run_id=run_id,
            num_epochs=num_epochs, rank=rank, world_size=world,
            fetch=wt.payloads() if fetch else None)
        if state is not None:
            ds.load_state_dict(state)
        loaders.append(wt.WinnowDataLoader(ds, num_workers=workers))
    steps = 0
    ckpt: Dict[str, Any] = {"state": loaders[0].state_dict(), "log": log}
    while True:
        iterators = [iter(loader) for loader in loaders]
        served = 0
        while True:
            batches = []
            for it in iterators:
                try:
                    batches.append(next(it))
                except StopIteration:
                    batches.append(None)
            if all(b is None for b in batches):
                break
            if any(b is None for b in batches):
                raise AssertionError("ranks got different numbers of batches")
            served += 1
            steps += 1
            for rank, b in enumerate(batches):
                if fetch and b["data"] != [expected_payload(i) for i in b["ids"]]:
                    raise AssertionError(f"fetched payloads differ: {b['ids']}")
                log.append([rank, b["epoch"], b["global_batch_index"], b["ids"]])
            if kill_after is not None and steps > kill_after:
                os.kill(os.getpid(), signal.SIGKILL)  # dies before checkpointing
            states = [loader.state_dict() for loader in loaders]
            ckpt = {"state": states[0], "states": states, "log": log}
            if checkpoint:
                with open(checkpoint + ".tmp", "w") as f:
                    json.dump(ckpt, f)
                os.replace(checkpoint + ".tmp", checkpoint)
            if on_step is not None:
                on_step(steps)
        if served == 0:
            return ckpt


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--address", required=True)
    p.add_argument("--collection", required=True)
    p.add_argument("--run-id", required=True)
    p.add_argument("--world", type=int, required=True)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--kill-after", type=int)
    p.add_argument("--fetch", action="store_true")
    a = p.parse_args()
    run(a.address, a.collection, a.run_id, a.world, a.workers,
        checkpoint=a.checkpoint, kill_after=a.kill_after, fetch=a.fetch)
    sys.exit(0)


if __name__ == "__main__":
    main()
