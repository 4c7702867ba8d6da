"""winnow.torch: a PyTorch IterableDataset over a Winnow sampling plan that
resumes exactly.

    ds = WinnowIterableDataset("127.0.0.1:7450", "web", batch_size=32,
                               seed=7, run_id="exp-1", num_epochs=2)
    loader = WinnowDataLoader(ds, num_workers=2)
    for epoch in range(2):
        for batch in loader:            # one Winnow global batch per step
            train(batch["ids"])
            save({"data": loader.state_dict(), ...})

How it splits the plan (docs/python.md has the reasoning):

* Each iteration of the loader is one epoch of the plan (the rest of the
  current epoch after a resume).
* Rank r of W (from the arguments, torch.distributed or the RANK and
  WORLD_SIZE environment variables) with nw DataLoader workers opens one
  Sample stream per worker: worker w reads virtual rank w*W + r of a world
  of W*nw. The loader hands out its workers' batches round-robin, so rank r
  receives the global batches s + r, s + r + W, s + r + 2W, ... exactly as
  a single stream of rank r of W would: workers change nothing in what a
  rank trains on, and ranks x workers are disjoint and complete.
* The state is a position in the global sequence that the main process
  knows: the cursor of the last complete round of workers' batches plus
  the number of global batches consumed after it. On resume, that number
  is turned into an exact server cursor with one small Sample call, so a
  resume neither skips nor repeats a batch, with any world size and any
  worker count.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.distributed
import torch.utils.data

from winnow.client import Client, SampleBatch, StrategyLike
from winnow.cursor import cursor_position
from winnow.errors import Unavailable

FetchFn = Callable[[SampleBatch, Client, str], Any]

_STATE_VERSION = 1
# Sample streams reopened after UNAVAILABLE, in a row, before giving up.
RECONNECTS = 8


class payloads:
    """A fetch function that reads each sample's payload with GetDocuments
    (by ordinal in the ORDINALS view, else by id) and returns the list of
    ``transform(payload)`` (the bytes themselves without a transform). A
    document deleted after the plan froze has no payload: b"" is passed.
    It pickles (for DataLoader workers) when ``transform`` does."""

    def __init__(self, transform: Optional[Callable[[bytes], Any]] = None):
        self.transform = transform

    def __call__(self, batch: SampleBatch, client: Client, collection: str) -> List[Any]:
        if len(batch.ordinals):
            docs = client.get_documents(collection, ordinals=batch.ordinals,
                                        fields=["payload"], allow_missing=True)
            found = {d.ordinal: d.payload for d in docs}
            raw = [found.get(int(o), b"") for o in batch.ordinals]
        else:
            docs = client.get_documents(collection, ids=batch.ids,
                                        fields=["payload"], allow_missing=True)
            found_ids = {d.id: d.payload for d in docs}
            raw = [found_ids.get(i, b"") for i in batch.ids]
        return raw if self.transform is None else [self.transform(p) for p in raw]


def _distributed_rank() -> Optional[tuple]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    return None


class WinnowIterableDataset(torch.utils.data.IterableDataset):
    """The batches of a Winnow plan for this rank, one global batch per item.

    ``server`` is an address (``host:port``) or a :class:`winnow.Client`
    (only its address, token and TLS CA are kept: every process, DataLoader
    workers included, opens its own channel). The plan fields are those of
    :meth:`winnow.Client.sample`. ``rank`` and ``world_size`` default to
    torch.distributed's when it is initialized, else to the RANK and
    WORLD_SIZE environment variables, else to 0 and 1.

    Each item is a dict: ``ids`` (list of str, IDS view), ``ordinals`` and
    ``lengths`` (int64 tensors), ``domains``, ``epoch``,
    ``global_batch_index``, ``cursor``, ``plan_id`` and, with ``fetch``,
    ``data``: what ``fetch(batch, client, collection)`` returned in the
    worker (for example the payloads through :func:`payloads`, or tensors
    read from your own store by id).

    Use it through :class:`WinnowDataLoader`, which records what the
    training loop consumed so that :meth:`state_dict` resumes exactly.
    Without workers, iterating the dataset directly records it too.
    """

    def __init__(self, server: Union[str, Client], collection: str, *,
                 batch_size: int = 0,
                 token_budget: Optional[Mapping[str, Any]] = None,
                 seed: int = 0, run_id: str = "", filter: str = "",
                 strategy: StrategyLike = None, num_epochs: int = 0,
                 samples_per_epoch: int = 0, drop_last: Optional[bool] = None,
                 view: str = "ids", score_names: Sequence[str] = (),
                 fields: Optional[Sequence[str]] = None,
                 fetch: Optional[FetchFn] = None,
                 rank: Optional[int] = None, world_size: Optional[int] = None,
                 token: Optional[str] = None, tls_ca: Optional[str] = None):
        super().__init__()
        if isinstance(server, Client):
            self._address, self._token, self._tls_ca = (
                server.address, server.token, server.tls_ca)
        else:
            self._address, self._token, self._tls_ca = server, token, tls_ca
        if (rank is None) != (world_size is None):
            raise ValueError("rank and world_size: give both or neither")
        if world_size is not None and not 0 <= rank < world_size:
            raise ValueError(f"rank: {rank} is not in [0, {world_size})")
        self.collection = collection
        self._plan = dict(collection=collection, batch_size=batch_size,
                          token_budget=token_budget, seed=seed, run_id=run_id,
                          filter=filter, strategy=strategy,
                          num_epochs=num_epochs,
                          samples_per_epoch=samples_per_epoch,
                          drop_last=drop_last)
        self._view = view
        self._score_names = list(score_names)
        self._fields = fields
        self._fetch = fetch
        self._rank_arg = (rank, world_size) if rank is not None else None
        self._client_obj: Optional[Client] = None
        self._client_pid = -1
        # The state: an exact cursor (None: the plan's start), the global
        # batches consumed after it, and the least epoch still to serve.
        self._cursor: Optional[str] = None
        self._skip = 0
        self._epoch = 0
        self.plan_id: Optional[str] = None
        self._loader_tracks = False
        self._tracking: Optional[Dict[str, Any]] = None
        self._main_pid = os.getpid()
        # Set by _prepare() for one iteration.
        self._prepared = False
        self._target = 0
        self._drop_last: Optional[bool] = None

    # --- where this process stands ---

    def rank_and_world_size(self) -> tuple:
        """(rank, world_size): the arguments, else torch.distributed's, else
        RANK and WORLD_SIZE from the environment, else (0, 1)."""
        if self._rank_arg is not None:
            return self._rank_arg
        found = _distributed_rank()
        return found if found is not None else (0, 1)

    @property
    def client(self) -> Client:
        """This process's Client (one per process: a gRPC channel must not
        cross fork())."""
        if self._client_obj is None or self._client_pid != os.getpid():
            self._client_obj = Client(self._address, self._token, self._tls_ca)
            self._client_pid = os.getpid()
        return self._client_obj

    def __getstate__(self) -> Dict[str, Any]:
        state = self.__dict__.copy()
        state["_client_obj"] = None
        return state

    # --- resumable state ---

    @property
    def epoch(self) -> int:
        """The epoch the next iteration serves (at least)."""
        if self._cursor is None:
            return self._epoch
        return max(self._epoch, cursor_position(self._cursor).epoch)

    def state_dict(self) -> Dict[str, Any]:
        """The position after the last batch the training loop consumed.
        The same on every rank after the same number of steps; save any
        rank's with the checkpoint taken after training on the batch."""
        return {"version": _STATE_VERSION, "cursor": self._cursor,
                "skip_batches": self._skip, "epoch": self._epoch,
                "plan_id": self.plan_id}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resumes from a :meth:`state_dict`, with any rank, world size and
        number of workers."""
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"state: version {state.get('version')!r} is not "
                             f"{_STATE_VERSION}")
        self._cursor = state["cursor"]
        self._skip = int(state["skip_batches"])
        self._epoch = int(state["epoch"])
        self.plan_id = state.get("plan_id")
        self._prepared = False

    # --- iteration ---

    def _request(self, rank: int, world_size: int, max_batches: int = 0,
                 view: Optional[str] = None, cursor: Optional[str] = None):
        cursor = cursor if cursor is not None else self._cursor
        plan = self._plan if not cursor else dict(
            collection=self.collection, batch_size=0, token_budget=None,
            seed=0, run_id="", filter="", strategy=None, num_epochs=0,
            samples_per_epoch=0, drop_last=None)
        return Client._sample_request(
            **plan, plan_id="", cursor=cursor, rank=rank,
            world_size=world_size, max_batches=max_batches,
            view=view or self._view, score_names=self._score_names,
            fields=self._fields)

    def _resolve_skip(self) -> None:
        """Turns (cursor, skip) into one exact cursor: rank 0 of a world of
        `skip` ranks, reading one batch from the cursor, receives the cursor
        `skip` global batches further on (or the next epoch's start)."""
        if self._skip <= 0:
            return
        request = self._request(0, self._skip, max_batches=1, view="ordinals")
        batches = list(self._reconnecting(request))
        if len(batches) != 1:
            raise RuntimeError(f"resuming: no batch at the saved position "
                               f"(cursor {self._cursor!r} + {self._skip})")
        self._cursor = batches[0].cursor
        self.plan_id = batches[0].plan_id
        self._skip = 0

    def _prepare(self) -> None:
        """Before an iteration, in the main process (so that every worker
        starts from the same facts): resolves the rank, turns the saved
        position into one exact cursor, and learns which epoch the
        iteration serves with one probe: under drop_last, the epoch of the
        next batch of the last rank of W (the current epoch while a whole
        round of W batches is left in it)."""
        self._rank_arg = self.rank_and_world_size()
        self._main_pid = os.getpid()
        self._resolve_skip()
        rank, world = self._rank_arg
        start_epoch = cursor_position(self._cursor).epoch if self._cursor else 0
        probe = list(self._reconnecting(
            self._request(world - 1, world, max_batches=1, view="ordinals")))
        self._drop_last = None
        target = start_epoch
        if probe:
            self.plan_id = probe[0].plan_id
            if probe[0].plan is not None:
                self._drop_last = probe[0].plan.drop_last
            if self._drop_last:
                target = probe[0].epoch
        # A saved run that saw its epoch end has moved on to the next one.
        self._target = max(target, self._epoch)
        self._prepared = True

    def _reconnecting(self, request) -> Iterator[SampleBatch]:
        """The Sample stream of `request`, reopened from the last batch's
        cursor when it breaks with UNAVAILABLE (a failed connect, a server
        restart): a stream's cursor resumes exactly that stream (same rank
        and world size), so nothing is repeated or skipped. Gives up after
        RECONNECTS failures in a row."""
        failures = 0
        served = 0
        while True:
            try:
                for batch in self.client.sample_request(request):
                    failures = 0
                    served += 1
                    yield batch
                    if request.max_batches and served >= request.max_batches:
                        return
                    request.cursor = batch.cursor
                return
            except Unavailable:
                failures += 1
                if failures > RECONNECTS:
                    raise
                time.sleep(min(0.2 * 2 ** failures, 3.0))

    def _item(self, batch: SampleBatch) -> Dict[str, Any]:
        item: Dict[str, Any] = {
            "ids": batch.ids,
            "ordinals": batch.ordinals.astype(np.int64),
            "lengths": batch.lengths,
            "domains": batch.domains,
            "epoch": batch.epoch,
            "global_batch_index": batch.global_batch_index,
            "last_in_epoch": batch.last_in_epoch,
            "cursor": batch.cursor,
            "plan_id": batch.plan_id,
        }
        if batch.scores:
            item["scores"] = batch.scores
        if self._fetch is not None:
            item["data"] = self._fetch(batch, self.client, self.collection)
        return item

    def _stream(self) -> Iterator[Dict[str, Any]]:
        """This process's share of one epoch: worker w of nw reads virtual
        rank w*W + r of a world of W*nw."""
        rank, world = self.rank_and_world_size()
        info = torch.utils.data.get_worker_info()
        workers, worker = (info.num_workers, info.id) if info else (1, 0)
        if info is not None:
            _watch_main_process(self._main_pid)
        if not self._prepared:  # a plain DataLoader started this worker
            self._prepare()
        target = self._target
        request = self._request(worker * world + rank, world * workers)
        last_cursor = self._cursor if (
            self._cursor and cursor_position(self._cursor).epoch == target) else None
        drop_last = self._drop_last
        for batch in self._reconnecting(request):
            if batch.plan is not None:
                drop_last = batch.plan.drop_last
            if batch.epoch < target:
                continue  # the saved run had finished this epoch
            if batch.epoch > target:
                break
            last_cursor = batch.cursor
            yield self._item(batch)
            if batch.last_in_epoch:
                break
        if drop_last and workers > 1 and (last_cursor or target == 0):
            # drop_last rounds of the virtual world are W*nw batches, but a
            # rank of W is owed every whole round of W: after the last whole
            # virtual round at position s, worker w also serves batch
            # s + w*W + r when s + (w+1)*W batches exist, as rank w*W + r of a
            # world of (w+1)*W reading one batch from s.
            extra = list(self._reconnecting(self._request(
                worker * world + rank, (worker + 1) * world, max_batches=1,
                cursor=last_cursor or "")))
            if extra and extra[0].epoch == target:
                yield self._item(extra[0])

    def __iter__(self) -> Iterator[Dict[str, Any]]:
        if torch.utils.data.get_worker_info() is not None or self._loader_tracks:
            return self._stream()
        self._prepare()
        return self._tracked(self._stream(), workers=1)

    def _tracked(self, items: Iterator[Dict[str, Any]], workers: int) -> Iterator[Any]:
        """Records each item the main process hands to the training loop."""
        self._begin(workers)
        for item in items:
            self._consumed(item)
            yield item
        self._finish()

    def _begin(self, workers: int) -> None:
        rank, world = self.rank_and_world_size()
        self._tracking = {"workers": max(1, workers), "world": world,
                          "count": 0, "base": self._cursor, "last": None}

    def _consumed(self, item: Mapping[str, Any]) -> None:
        t = self._tracking
        assert t is not None
        t["count"] += 1
        t["last"] = item
        self.plan_id = item["plan_id"]
        self._epoch = max(self._epoch, int(item["epoch"]))
        partial = t["count"] % t["workers"]
        if partial == 0:
            # A complete round of workers: the server's cursor is exact.
            t["base"] = item["cursor"]
            self._cursor, self._skip = item["cursor"], 0
        else:
            self._cursor, self._skip = t["base"], partial * t["world"]

    def _finish(self) -> None:
        """The epoch ended for this rank: the next iteration serves the
        next one."""
        t = self._tracking
        assert t is not None
        if t["last"] is not None:
            self._cursor, self._skip = t["last"]["cursor"], 0
            self._epoch = int(t["last"]["epoch"]) + 1
        else:
            self._epoch = max(self.epoch, self._target) + 1
        self._tracking = None
        self._prepared = False


_watched: Optional[int] = None


def _watch_main_process(pid: int) -> None:
    """Ends this DataLoader worker when the training process is gone. A
    worker started by the fork server is the fork server's child, so
    PyTorch's own check (is my parent alive?) would keep it, and with it
    the fork server, alive forever after the trainer is killed."""
    global _watched
    if _watched == pid or pid == os.getpid():
        return
    _watched = pid

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:
                pass  # alive, under another user (cannot happen for a parent)

    threading.Thread(target=watch, name="winnow-watchdog", daemon=True).start()


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers start from a fork server that has imported torch but not
    gRPC: gRPC's state does not survive fork() (a worker forked from a
    process that uses gRPC fails with "Socket operation on non-socket").
    The fork server makes starting workers about as cheap as fork() once it
    runs; the dataset and its fetch function must pickle."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", "torch.utils.data", "numpy", "google.protobuf.json_format"])
    return ctx


class WinnowDataLoader(torch.utils.data.DataLoader):
    """A DataLoader over a :class:`WinnowIterableDataset` that records what
    the training loop consumed, for :meth:`state_dict`.

    Takes DataLoader's arguments except batch_size (each item is already a
    global batch) and persistent_workers (a worker must start each epoch
    from the main process's state).
    """

    def __init__(self, dataset: WinnowIterableDataset, **kwargs: Any):
        if not isinstance(dataset, WinnowIterableDataset):
            raise TypeError("dataset: must be a WinnowIterableDataset")
        if kwargs.pop("persistent_workers", False):
            raise ValueError("persistent_workers: not supported; workers must "
                             "start each epoch from the loader's state")
        kwargs.pop("batch_size", None)
        if kwargs.get("num_workers", 0) > 0 and "multiprocessing_context" not in kwargs:
            kwargs["multiprocessing_context"] = _worker_context()
        super().__init__(dataset, batch_size=None, **kwargs)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        ds: WinnowIterableDataset = self.dataset  # type: ignore[assignment]
        ds._prepare()
        ds._loader_tracks = True
        try:
            it = super().__iter__()  # starts the workers with copies of ds
        finally:
            ds._loader_tracks = False
        return ds._tracked(iter(it), workers=max(1, self.num_workers))

    def state_dict(self) -> Dict[str, Any]:
        """The dataset's :meth:`WinnowIterableDataset.state_dict`."""
        return self.dataset.state_dict()  # type: ignore[attr-defined]

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """The dataset's :meth:`WinnowIterableDataset.load_state_dict`."""
        self.dataset.load_state_dict(state)  # type: ignore[attr-defined]
