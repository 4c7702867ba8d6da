"""One rank of a real 2-process torch.distributed (gloo) job for the dataset
tests: the dataset takes its rank and world size from torch.distributed,
reads every epoch through 2 DataLoader workers, and writes what it trained
on to OUT. The ranks also check over gloo that they took as many steps."""

import json
import sys

import torch.distributed as dist

import winnow.torch as wt


def main() -> None:
    address, collection, run_id, workers, out = sys.argv[1:6]
    dist.init_process_group("gloo")  # MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE
    ds = wt.WinnowIterableDataset(address, collection, batch_size=5, seed=11,
                                  run_id=run_id, num_epochs=2)
    loader = wt.WinnowDataLoader(ds, num_workers=int(workers))
    log = []
    for _ in range(3):  # 2 epochs, then nothing
        steps = 0
        for b in loader:
            log.append([dist.get_rank(), b["epoch"], b["global_batch_index"], b["ids"]])
            steps += 1
        counts = [None] * dist.get_world_size()
        dist.all_gather_object(counts, steps)
        if len(set(counts)) != 1:
            raise AssertionError(f"ranks took different numbers of steps: {counts}")
    with open(out, "w") as f:
        json.dump({"log": log, "rank_world": ds.rank_and_world_size(),
                   "state": loader.state_dict()}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
