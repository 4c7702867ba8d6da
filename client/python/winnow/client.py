"""winnow.Client: a small, typed wrapper over Winnow's gRPC stubs.

Methods take plain Python values and numpy arrays, return protobuf messages
(for records such as a Collection or a Plan) or numpy arrays (for columns),
and raise :class:`winnow.errors.WinnowError` subclasses that carry the gRPC
code and the server's message. docs/python.md describes each method.
"""

from __future__ import annotations

import dataclasses
import itertools
import queue
import time
import uuid
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Mapping,
                    Optional, Sequence, Tuple, TypeVar, Union)

import grpc
import numpy as np
from google.protobuf import field_mask_pb2, json_format

from winnow import errors
from winnow.v1 import (admin_pb2, admin_pb2_grpc, backup_pb2, collection_pb2,
                       collection_pb2_grpc, common_pb2, document_pb2,
                       document_pb2_grpc, operation_pb2, operation_pb2_grpc,
                       score_pb2, score_pb2_grpc, scorer_pb2, selection_pb2,
                       selection_pb2_grpc, strategy_pb2)

ArrayLike = Union[Sequence[Any], np.ndarray]
StrategyLike = Union[strategy_pb2.Strategy, Mapping[str, Any], None]

_VIEWS = {
    "ids": common_pb2.RESULT_VIEW_IDS,
    "ordinals": common_pb2.RESULT_VIEW_ORDINALS,
    "full": common_pb2.RESULT_VIEW_FULL,
}
_DTYPES = {
    "float32": collection_pb2.EMBEDDING_DTYPE_FLOAT32,
    "float16": collection_pb2.EMBEDDING_DTYPE_FLOAT16,
}
# Codes after which an acknowledged writer reconnects and resends.
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE,)

T = TypeVar("T")


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return fn(*args, **kwargs)
    except grpc.RpcError as e:
        raise errors.from_rpc_error(e) from None


def _view(view: str) -> int:
    try:
        return _VIEWS[view]
    except KeyError:
        raise ValueError(f"view: {view!r} is not one of {sorted(_VIEWS)}") from None


def _strategy(strategy: StrategyLike) -> Optional[strategy_pb2.Strategy]:
    if strategy is None:
        return None
    if isinstance(strategy, strategy_pb2.Strategy):
        return strategy
    return json_format.ParseDict(dict(strategy), strategy_pb2.Strategy())


def score_column(name: str, values: ArrayLike) -> common_pb2.ScoreColumn:
    """A ScoreColumn from float values; NaN (or None) means null."""
    array = np.asarray([np.nan if v is None else v for v in values]
                       if not isinstance(values, np.ndarray) else values,
                       dtype=np.float32)
    nulls = np.flatnonzero(np.isnan(array))
    column = common_pb2.ScoreColumn(name=name)
    if len(nulls):
        array = array.copy()
        array[nulls] = 0.0
        column.null_indexes.extend(nulls.tolist())
    column.values.extend(array.tolist())
    return column


def column_array(column: common_pb2.ScoreColumn) -> np.ndarray:
    """A ScoreColumn's values as float32, NaN where the value is null."""
    array = np.array(column.values, dtype=np.float32)
    if len(column.null_indexes):
        array[np.asarray(column.null_indexes, dtype=np.int64)] = np.nan
    return array


def _columns(scores: Iterable[common_pb2.ScoreColumn]) -> Dict[str, np.ndarray]:
    return {c.name: column_array(c) for c in scores}


@dataclasses.dataclass
class UpsertResult:
    """What an upsert wrote: documents, of which created and replaced, and
    the batches (each one atomic and acknowledged once durable)."""

    document_count: int = 0
    created_count: int = 0
    replaced_count: int = 0
    batch_count: int = 0
    reconnects: int = 0


@dataclasses.dataclass
class Scores:
    """Score columns of documents: ``columns[name][i]`` belongs to ``ids[i]``
    and ``ordinals[i]``; NaN means null."""

    ids: List[str]
    ordinals: np.ndarray
    columns: Dict[str, np.ndarray]
    missing_ids: List[str]
    missing_ordinals: np.ndarray


@dataclasses.dataclass
class FilterResult:
    """The matches of a filter, in ordinal order: ``ids`` (IDS view) or
    ``ordinals`` (ORDINALS view, uint64), with the requested score columns
    aligned (NaN means null)."""

    total_count: int
    ids: List[str]
    ordinals: np.ndarray
    scores: Dict[str, np.ndarray]
    documents: List[document_pb2.Document]


@dataclasses.dataclass
class Neighbors:
    """The nearest neighbours of one query, nearest first: ``query_id`` is
    the query document's id (empty for a query vector), and ``ids``,
    ``ordinals`` (uint64) and ``similarities`` (float32) are aligned."""

    query_id: str
    ids: List[str]
    ordinals: np.ndarray
    similarities: np.ndarray


_METRICS = {
    "cosine": selection_pb2.SIMILARITY_METRIC_COSINE,
    "dot": selection_pb2.SIMILARITY_METRIC_DOT_PRODUCT,
}


@dataclasses.dataclass
class SampleBatch:
    """One global batch of a plan, as one rank receives it.

    ``cursor`` resumes after this batch (and after the other ranks' batches
    of the same round): store it with the checkpoint taken after training on
    the batch. ``ids`` (IDS view), ``ordinals`` (ORDINALS view) or
    ``documents`` (FULL view) hold the samples; ``lengths`` and ``domains``
    are filled in the IDS and ORDINALS views.
    """

    plan_id: str
    epoch: int
    global_batch_index: int
    cursor: str
    last_in_epoch: bool
    ids: List[str]
    ordinals: np.ndarray
    lengths: np.ndarray
    domains: List[str]
    scores: Dict[str, np.ndarray]
    documents: List[selection_pb2.SampledDocument]
    deleted_indexes: List[int]
    modified_indexes: List[int]
    token_count: int
    plan: Optional[selection_pb2.Plan]
    raw: selection_pb2.SampleResponse

    @classmethod
    def from_response(cls, r: selection_pb2.SampleResponse) -> "SampleBatch":
        b = r.batch
        return cls(
            plan_id=r.plan_id, epoch=b.epoch,
            global_batch_index=b.global_batch_index, cursor=r.cursor,
            last_in_epoch=b.last_in_epoch, ids=list(b.ids),
            ordinals=np.array(b.ordinals, dtype=np.uint64),
            lengths=np.array(b.lengths, dtype=np.int64),
            domains=list(b.domains), scores=_columns(b.scores),
            documents=list(b.samples),
            deleted_indexes=list(b.deleted_indexes),
            modified_indexes=list(b.modified_indexes),
            token_count=b.token_count,
            plan=r.plan if r.HasField("plan") else None, raw=r)

    def __len__(self) -> int:
        return max(len(self.ids), len(self.ordinals), len(self.documents))


_END = object()


class _AckedWriter:
    """The client side of an acknowledged bulk-write stream (UpsertDocuments,
    PutScores): numbers the batches 1, 2, 3, ..., keeps at most
    ``max_in_flight`` unacknowledged batches on the wire, and when the stream
    breaks with UNAVAILABLE (a reset connection, a server restart), opens a
    new one after a backoff and resends every unacknowledged batch in order.
    Both writes are idempotent, so a resent batch is harmless."""

    def __init__(self, rpc: Callable[..., Any], metadata, max_in_flight: int,
                 max_attempts: int, timeout: Optional[float]):
        self._rpc = rpc
        self._metadata = metadata
        self._window = max(1, max_in_flight)
        self._max_attempts = max_attempts
        self._timeout = timeout
        self.reconnects = 0

    def run(self, batches: Iterator[Any], on_ack: Callable[[Any], None]) -> int:
        pending: List[Any] = []  # unacknowledged, in sequence order
        sequence = itertools.count(1)
        exhausted = False
        attempts = 0
        sent = 0

        def take() -> Optional[Any]:
            nonlocal exhausted
            if exhausted:
                return None
            try:
                batch = next(batches)
            except StopIteration:
                exhausted = True
                return None
            batch.sequence = next(sequence)
            pending.append(batch)
            return batch

        while True:
            requests: "queue.Queue[Any]" = queue.Queue()
            for batch in pending:
                requests.put(batch)
            while len(pending) < self._window:
                if take() is None:
                    break
                requests.put(pending[-1])
            if exhausted and not pending:
                return sent
            closed = False
            if exhausted:
                requests.put(_END)
                closed = True
            call = self._rpc(iter(requests.get, _END), metadata=self._metadata,
                             timeout=self._timeout)
            try:
                for ack in call:
                    if not pending or ack.sequence != pending[0].sequence:
                        raise errors.WinnowError(
                            f"acknowledgement of sequence {ack.sequence} out of "
                            "order", grpc.StatusCode.INTERNAL)
                    pending.pop(0)
                    sent += 1
                    attempts = 0
                    on_ack(ack)
                    while len(pending) < self._window and take() is not None:
                        requests.put(pending[-1])
                    if exhausted and not closed:
                        requests.put(_END)
                        closed = True
                if pending:
                    raise errors.WinnowError(
                        f"the server ended the stream with {len(pending)} "
                        "batches unacknowledged", grpc.StatusCode.INTERNAL)
                return sent
            except grpc.RpcError as e:
                if not closed:
                    requests.put(_END)  # frees the call's sending thread
                if e.code() not in _RETRYABLE or attempts >= self._max_attempts:
                    raise errors.from_rpc_error(e) from None
                attempts += 1
                self.reconnects += 1
                time.sleep(min(0.1 * (2 ** attempts), 2.0))


class Client:
    """A connection to a winnowd.

    ``address`` is ``host:port``. ``token`` is sent as ``authorization:
    Bearer TOKEN`` on every call (servers started with a token file need
    one). ``tls_ca`` is the path of a PEM CA bundle: with it the channel uses
    TLS and checks the server's certificate against it. ``timeout`` is the
    deadline of each unary call, in seconds; streams have none.

    A Client holds one gRPC channel and is safe to use from several threads.
    Do not share one across ``fork()``: make one per process (the PyTorch
    dataset does this for its DataLoader workers).
    """

    def __init__(self, address: str, token: Optional[str] = None,
                 tls_ca: Optional[str] = None, *, timeout: float = 30.0):
        self.address = address
        self.token = token
        self.tls_ca = tls_ca
        self.timeout = timeout
        # Reconnect soon after a server restart. (Not min_reconnect_backoff_ms:
        # gRPC also takes it as the connect timeout, and 100 ms fails
        # connections to a busy server with "timed out before receiving
        # SETTINGS frame".)
        options = [
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        if tls_ca:
            with open(tls_ca, "rb") as f:
                credentials = grpc.ssl_channel_credentials(root_certificates=f.read())
            self._channel = grpc.secure_channel(address, credentials, options)
        else:
            self._channel = grpc.insecure_channel(address, options)
        self._metadata: Tuple[Tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ())
        self._collections = collection_pb2_grpc.CollectionServiceStub(self._channel)
        self._documents = document_pb2_grpc.DocumentServiceStub(self._channel)
        self._scores = score_pb2_grpc.ScoreServiceStub(self._channel)
        self._selection = selection_pb2_grpc.SelectionServiceStub(self._channel)
        self._admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self._operations = operation_pb2_grpc.OperationServiceStub(self._channel)

    # --- connection ---

    def close(self) -> None:
        """Closes the channel; streams in progress end with CANCELLED."""
        self._channel.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _unary(self, method: Callable[..., T], request: Any) -> T:
        return _call(method, request, metadata=self._metadata,
                     timeout=self.timeout)

    def _all_pages(self, method: Callable[..., Any], request: Any, field: str) -> List[Any]:
        """Every item of a paged List call: `request` with each page token in
        turn, collecting the response's repeated `field`."""
        out: List[Any] = []
        while True:
            r = self._unary(method, request)
            out.extend(getattr(r, field))
            if not r.next_page_token:
                return out
            request.page_token = r.next_page_token

    # --- collections ---

    def create_collection(self, name: str, *, embedding_dimension: int = 0,
                          embedding_dtype: str = "float32",
                          exist_ok: bool = False) -> collection_pb2.Collection:
        """Creates an empty collection and returns it. With ``exist_ok``, an
        existing collection of that name is returned instead of raising
        AlreadyExists."""
        if embedding_dtype not in _DTYPES:
            raise ValueError(f"embedding_dtype: {embedding_dtype!r} is not one "
                             f"of {sorted(_DTYPES)}")
        request = collection_pb2.CreateCollectionRequest(
            collection=collection_pb2.Collection(
                name=name, embedding_dimension=embedding_dimension,
                embedding_dtype=_DTYPES[embedding_dtype]))
        try:
            return self._unary(self._collections.CreateCollection,
                               request).collection
        except errors.AlreadyExists:
            if not exist_ok:
                raise
            return self.get_collection(name)

    def get_collection(self, name: str) -> collection_pb2.Collection:
        """The collection with its current stats; NotFound if it is absent."""
        return self._unary(self._collections.GetCollection,
                           collection_pb2.GetCollectionRequest(name=name)).collection

    def list_collections(self) -> List[collection_pb2.Collection]:
        """Every collection visible to the token, ordered by name."""
        return self._all_pages(self._collections.ListCollections,
                               collection_pb2.ListCollectionsRequest(), "collections")

    def delete_collection(self, name: str, *, allow_missing: bool = False) -> bool:
        """Deletes a collection with its documents, scores and plans. Returns
        False when it did not exist and ``allow_missing`` is set."""
        return self._unary(self._collections.DeleteCollection,
                           collection_pb2.DeleteCollectionRequest(
                               name=name, allow_missing=allow_missing)).deleted

    # --- documents ---

    def upsert(self, collection: str,
               documents: Optional[Iterable[Mapping[str, Any]]] = None, *,
               columns: Optional[Mapping[str, Any]] = None,
               batch_size: int = 1000, max_in_flight: int = 8,
               max_attempts: int = 10) -> UpsertResult:
        """Inserts or replaces documents, in acknowledged batches.

        ``documents`` is an iterable of dicts with the keys of a Document
        (``id``, and optionally ``domain``, ``length``, ``attributes``,
        ``payload`` (bytes or str), ``embedding``, ``scores``). ``columns``
        is the columnar form, faster for bulk loads: ``ids`` (required),
        ``domains`` (a sequence, or one str for all), ``lengths``,
        ``payloads``, ``embeddings`` (a 2-D array, one row per id),
        ``scores`` ({name: values}, NaN for null) and ``attributes`` ({key:
        values}). Each batch of ``batch_size`` documents is one atomic write;
        the call returns once every batch is durable. If the connection
        breaks, the unacknowledged batches are resent on a new stream (up to
        ``max_attempts`` reconnects in a row). A batch the server refuses
        raises (InvalidArgument names its sequence and the field); the
        batches before it stay written.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size: must be >= 1, got {batch_size}")
        batches = itertools.chain(
            self._row_batches(collection, documents or (), batch_size),
            self._column_batches(collection, columns, batch_size)
            if columns is not None else ())
        result = UpsertResult()

        def on_ack(ack: document_pb2.UpsertDocumentsResponse) -> None:
            result.document_count += ack.document_count
            result.created_count += ack.created_count
            result.replaced_count += ack.replaced_count
            result.batch_count += 1

        writer = _AckedWriter(self._documents.UpsertDocuments, self._metadata,
                              max_in_flight, max_attempts, None)
        writer.run(iter(batches), on_ack)
        result.reconnects = writer.reconnects
        return result

    @staticmethod
    def _row_batches(collection: str, documents: Iterable[Mapping[str, Any]],
                     batch_size: int) -> Iterator[document_pb2.UpsertDocumentsRequest]:
        batch = document_pb2.UpsertDocumentsRequest(collection=collection)
        for d in documents:
            doc = batch.documents.add(id=d["id"], domain=d.get("domain", ""),
                                      length=int(d.get("length", 0)))
            for k, v in (d.get("attributes") or {}).items():
                doc.attributes[k] = v
            payload = d.get("payload")
            if payload is not None:
                doc.payload = payload.encode() if isinstance(payload, str) else payload
            if d.get("embedding") is not None:
                doc.embedding.extend(np.asarray(d["embedding"], np.float32).tolist())
            for k, v in (d.get("scores") or {}).items():
                doc.scores[k] = float(v)
            if len(batch.documents) >= batch_size:
                yield batch
                batch = document_pb2.UpsertDocumentsRequest(collection=collection)
        if len(batch.documents):
            yield batch

    @staticmethod
    def _column_batches(collection: str, columns: Mapping[str, Any],
                        batch_size: int) -> Iterator[document_pb2.UpsertDocumentsRequest]:
        unknown = set(columns) - {"ids", "domains", "lengths", "payloads",
                                  "embeddings", "scores", "attributes"}
        if unknown:
            raise ValueError(f"columns: unknown keys {sorted(unknown)}")
        ids = list(columns["ids"])
        domains = columns.get("domains")
        lengths = columns.get("lengths")
        payloads = columns.get("payloads")
        embeddings = columns.get("embeddings")
        if embeddings is not None:
            embeddings = np.asarray(embeddings, dtype=np.float32)
        scores = {k: np.asarray(v, dtype=np.float32)
                  for k, v in (columns.get("scores") or {}).items()}
        attributes = columns.get("attributes") or {}
        for lo in range(0, len(ids), batch_size):
            hi = min(lo + batch_size, len(ids))
            c = document_pb2.DocumentColumns(ids=ids[lo:hi])
            if isinstance(domains, str):
                c.domains.append(domains)
            elif domains is not None:
                c.domains.extend(list(domains[lo:hi]))
            if lengths is not None:
                c.lengths.extend(np.asarray(lengths[lo:hi], np.int64).tolist())
            if payloads is not None:
                # None (or b"") is a document without a payload.
                c.payloads.extend(b"" if p is None else
                                  p.encode() if isinstance(p, str) else bytes(p)
                                  for p in payloads[lo:hi])
            if embeddings is not None:
                c.embeddings.extend(embeddings[lo:hi].reshape(-1).tolist())
            for name, values in scores.items():
                c.scores.append(score_column(name, values[lo:hi]))
            for key, values in attributes.items():
                c.attributes.add(key=key, values=list(values[lo:hi]))
            yield document_pb2.UpsertDocumentsRequest(collection=collection,
                                                      columns=c)

    def get_documents(self, collection: str, ids: Sequence[str] = (),
                      ordinals: ArrayLike = (), *,
                      fields: Optional[Sequence[str]] = None,
                      score_names: Sequence[str] = (),
                      allow_missing: bool = False) -> List[document_pb2.Document]:
        """Reads documents by id and by ordinal (in that order). ``fields``
        names the Document fields to read (such as ``["payload"]``); None
        reads all but the embedding. Unknown ones raise NotFound unless
        ``allow_missing`` is set, when they are left out."""
        request = document_pb2.GetDocumentsRequest(
            collection=collection, ids=list(ids),
            ordinals=np.asarray(ordinals, dtype=np.uint64).tolist(),
            score_names=list(score_names), allow_missing=allow_missing)
        if fields is not None:
            request.read_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(fields)))
        return list(self._unary(self._documents.GetDocuments, request).documents)

    def delete_documents(self, collection: str, ids: Sequence[str], *,
                         allow_missing: bool = False) -> int:
        """Deletes documents by id in one atomic batch; returns how many."""
        return self._unary(self._documents.DeleteDocuments,
                           document_pb2.DeleteDocumentsRequest(
                               collection=collection, ids=list(ids),
                               allow_missing=allow_missing)).deleted_count

    # --- scores ---

    def put_scores(self, collection: str, scores: Mapping[str, ArrayLike], *,
                   ids: Optional[Sequence[str]] = None,
                   ordinals: Optional[ArrayLike] = None,
                   batch_size: int = 10000, allow_missing: bool = False,
                   max_in_flight: int = 8, max_attempts: int = 10) -> int:
        """Sets score columns of documents given by ``ids`` or ``ordinals``:
        ``scores[name][i]`` for document i, NaN to clear it (null). Batched
        and acknowledged like :meth:`upsert`. Returns the documents scored."""
        if (ids is None) == (ordinals is None):
            raise ValueError("put_scores: give ids or ordinals, not both")
        keys = list(ids) if ids is not None else np.asarray(ordinals, np.uint64)
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in scores.items()}

        def batches() -> Iterator[score_pb2.PutScoresRequest]:
            for lo in range(0, len(keys), batch_size):
                hi = min(lo + batch_size, len(keys))
                r = score_pb2.PutScoresRequest(collection=collection,
                                               allow_missing=allow_missing)
                if ids is not None:
                    r.ids.extend(keys[lo:hi])
                else:
                    r.ordinals.extend(keys[lo:hi].tolist())
                for name, values in arrays.items():
                    r.scores.append(score_column(name, values[lo:hi]))
                yield r

        count = 0

        def on_ack(ack: score_pb2.PutScoresResponse) -> None:
            nonlocal count
            count += ack.document_count

        _AckedWriter(self._scores.PutScores, self._metadata, max_in_flight,
                     max_attempts, None).run(batches(), on_ack)
        return count

    def get_scores(self, collection: str, *, ids: Optional[Sequence[str]] = None,
                   ordinals: Optional[ArrayLike] = None,
                   names: Sequence[str] = (), allow_missing: bool = False) -> Scores:
        """Reads score columns (all of them when ``names`` is empty) of the
        documents given by ``ids`` or ``ordinals``, as float32 arrays with
        NaN for null."""
        request = score_pb2.GetScoresRequest(collection=collection,
                                             score_names=list(names),
                                             allow_missing=allow_missing)
        if ids is not None:
            request.ids.extend(ids)
        if ordinals is not None:
            request.ordinals.extend(np.asarray(ordinals, np.uint64).tolist())
        r = self._unary(self._scores.GetScores, request)
        return Scores(ids=list(r.ids), ordinals=np.array(r.ordinals, np.uint64),
                      columns=_columns(r.scores), missing_ids=list(r.missing_ids),
                      missing_ordinals=np.array(r.missing_ordinals, np.uint64))

    # --- selection ---

    def count(self, collection: str, filter: str = "", *,
              histograms: Sequence[Union[str, Mapping[str, Any]]] = (),
              group_by_domain: bool = False) -> selection_pb2.CountResponse:
        """Counts the live documents matching ``filter``. ``histograms`` are
        column names, or dicts with the fields of a HistogramSpec
        (``column``, ``bin_count``, ``lower_bound``, ``upper_bound``,
        ``percentiles``)."""
        request = selection_pb2.CountRequest(collection=collection, filter=filter,
                                             group_by_domain=group_by_domain)
        for h in histograms:
            spec = request.histograms.add()
            if isinstance(h, str):
                spec.column = h
            else:
                json_format.ParseDict(dict(h), spec)
        return self._unary(self._selection.Count, request)

    def filter_stream(self, collection: str, filter: str = "", *,
                      view: str = "ids", score_names: Sequence[str] = (),
                      fields: Optional[Sequence[str]] = None,
                      batch_size: int = 0, max_results: int = 0,
                      start_ordinal: int = 0) -> Iterator[selection_pb2.FilterResponse]:
        """The raw Filter stream: one FilterResponse per batch of matches."""
        request = selection_pb2.FilterRequest(
            collection=collection, filter=filter, view=_view(view),
            score_names=list(score_names), batch_size=batch_size,
            max_results=max_results, start_ordinal=start_ordinal)
        if fields is not None:
            request.read_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(fields)))
        try:
            for r in self._selection.Filter(request, metadata=self._metadata):
                yield r
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None

    def filter(self, collection: str, filter: str = "", *, view: str = "ids",
               score_names: Sequence[str] = (),
               fields: Optional[Sequence[str]] = None,
               max_results: int = 0) -> FilterResult:
        """Every live document matching ``filter``, in ordinal order: ids
        (``view="ids"``), ordinals as a uint64 array (``view="ordinals"``,
        the fastest form) or Documents (``view="full"``), with the requested
        score columns aligned."""
        ids: List[str] = []
        ordinals: List[np.ndarray] = []
        documents: List[document_pb2.Document] = []
        parts: Dict[str, List[np.ndarray]] = {}
        total = 0
        for r in self.filter_stream(collection, filter, view=view,
                                    score_names=score_names, fields=fields,
                                    max_results=max_results):
            total = r.total_count
            ids.extend(r.ids)
            if len(r.ordinals):
                ordinals.append(np.array(r.ordinals, dtype=np.uint64))
            documents.extend(r.documents)
            for c in r.scores:
                parts.setdefault(c.name, []).append(column_array(c))
        return FilterResult(
            total_count=total, ids=ids,
            ordinals=(np.concatenate(ordinals) if ordinals
                      else np.zeros(0, dtype=np.uint64)),
            scores={k: np.concatenate(v) for k, v in parts.items()},
            documents=documents)

    def nearest(self, collection: str, *, ids: Sequence[str] = (),
                vectors: Optional[ArrayLike] = None, k: int = 10,
                filter: str = "", metric: str = "cosine",
                include_self: bool = False) -> List[Neighbors]:
        """The ``k`` nearest neighbours of each query, among the live
        documents with an embedding that match ``filter``: one Neighbors
        per query, the rows of ``vectors`` (a (queries, dim) array, or one
        vector) first, then the documents ``ids``. ``metric`` is "cosine"
        or "dot"; a query document is its own neighbour only with
        ``include_self``."""
        if metric not in _METRICS:
            raise ValueError(f"metric: expected cosine or dot, got {metric!r}")
        request = selection_pb2.NearestRequest(
            collection=collection, query_ids=list(ids), k=k, filter=filter,
            metric=_METRICS[metric], include_self=include_self)
        if vectors is not None:
            request.query_vectors.extend(
                np.asarray(vectors, dtype=np.float32).reshape(-1).tolist())
        r = self._unary(self._selection.Nearest, request)
        return [Neighbors(query_id=q.query_id, ids=[n.id for n in q.neighbors],
                          ordinals=np.array([n.ordinal for n in q.neighbors],
                                            dtype=np.uint64),
                          similarities=np.array([n.similarity for n in q.neighbors],
                                                dtype=np.float32))
                for q in r.results]

    def sample(self, collection: str = "", *, batch_size: int = 0,
               token_budget: Optional[Mapping[str, Any]] = None,
               seed: int = 0, run_id: str = "", filter: str = "",
               strategy: StrategyLike = None, num_epochs: int = 0,
               samples_per_epoch: int = 0, drop_last: Optional[bool] = None,
               plan_id: str = "", cursor: Optional[str] = None,
               rank: int = 0, world_size: int = 1, max_batches: int = 0,
               view: str = "ids", score_names: Sequence[str] = (),
               fields: Optional[Sequence[str]] = None) -> Iterator[SampleBatch]:
        """Streams a plan's batches to rank ``rank`` of ``world_size``.

        The plan fields (``collection``, ``filter``, ``strategy``, ``seed``,
        ``run_id``, ``num_epochs``, ``samples_per_epoch``, ``batch_size`` or
        ``token_budget``, ``drop_last``) are the same on every rank; the
        first call creates the plan. ``strategy`` is a Strategy message or
        its JSON form, such as ``{"weighted": {"score": "quality",
        "weightFunction": "WEIGHT_FUNCTION_POWER", "alpha": 2}}``. To resume,
        pass a batch's ``cursor`` (the plan fields may then be left out) with
        any rank and world size. docs/sampling.md has the semantics.
        """
        request = self._sample_request(
            collection=collection, batch_size=batch_size,
            token_budget=token_budget, seed=seed, run_id=run_id, filter=filter,
            strategy=strategy, num_epochs=num_epochs,
            samples_per_epoch=samples_per_epoch, drop_last=drop_last,
            plan_id=plan_id, cursor=cursor, rank=rank, world_size=world_size,
            max_batches=max_batches, view=view, score_names=score_names,
            fields=fields)
        return self.sample_request(request)

    @staticmethod
    def _sample_request(*, collection: str, batch_size: int,
                        token_budget: Optional[Mapping[str, Any]], seed: int,
                        run_id: str, filter: str, strategy: StrategyLike,
                        num_epochs: int, samples_per_epoch: int,
                        drop_last: Optional[bool], plan_id: str,
                        cursor: Optional[str], rank: int, world_size: int,
                        max_batches: int, view: str, score_names: Sequence[str],
                        fields: Optional[Sequence[str]]) -> selection_pb2.SampleRequest:
        request = selection_pb2.SampleRequest(
            collection=collection, filter=filter, seed=seed, run_id=run_id,
            num_epochs=num_epochs, samples_per_epoch=samples_per_epoch,
            plan_id=plan_id, cursor=cursor or "", rank=rank,
            world_size=world_size, max_batches=max_batches, view=_view(view),
            score_names=list(score_names))
        s = _strategy(strategy)
        if s is not None:
            request.strategy.CopyFrom(s)
        if token_budget is not None:
            json_format.ParseDict(dict(token_budget), request.token_budget)
        elif batch_size:
            request.batch_size = batch_size
        if drop_last is not None:
            request.drop_last = drop_last
        if fields is not None:
            request.read_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(fields)))
        return request

    def sample_request(self, request: selection_pb2.SampleRequest) -> Iterator[SampleBatch]:
        """:meth:`sample` from a SampleRequest message. Closing the iterator
        (or dropping it) cancels the stream."""
        call = self._selection.Sample(request, metadata=self._metadata)
        try:
            for r in call:
                yield SampleBatch.from_response(r)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        finally:
            call.cancel()

    # --- plans ---

    def list_plans(self, collection: str = "", run_id: str = "") -> List[selection_pb2.Plan]:
        """The live plans visible to the token, newest first."""
        return self._all_pages(self._selection.ListPlans, selection_pb2.ListPlansRequest(
            collection=collection, run_id=run_id), "plans")

    def delete_plan(self, plan_id: str, *, allow_missing: bool = False) -> bool:
        """Deletes a plan; its cursors are refused from then on."""
        return self._unary(self._selection.DeletePlan, selection_pb2.DeletePlanRequest(
            plan_id=plan_id, allow_missing=allow_missing)).deleted

    # --- administration ---

    def backup(self, *, request_id: Optional[str] = None,
               progress: Optional[Callable[[operation_pb2.Operation], None]] = None
               ) -> backup_pb2.Backup:
        """Takes an online backup of the whole database and returns it,
        waiting for it if the server answers before it is done.
        ``progress`` is called with the Operation as it advances.
        ``request_id`` makes a retry return the first call's backup. A
        failed backup raises with the operation's error code."""
        r = self._unary(self._admin.Backup, admin_pb2.BackupRequest(
            request_id=request_id or str(uuid.uuid4())))
        op = self._finish(r.operation, progress)
        return op.backup

    # --- operations ---

    def compute_scores(self, collection: str, scorer: scorer_pb2.Scorer, *,
                       filter: str = "", request_id: Optional[str] = None,
                       wait: bool = True,
                       progress: Optional[Callable[[operation_pb2.Operation], None]] = None
                       ) -> operation_pb2.Operation:
        """Starts a server-side scorer over the live documents matching
        ``filter`` and returns its Operation: with ``wait``, once it has
        succeeded (a failed or cancelled job raises with its error code),
        else at once. ``request_id`` makes a retry return the first call's
        operation."""
        r = self._unary(self._scores.ComputeScores, score_pb2.ComputeScoresRequest(
            collection=collection, scorer=scorer, filter=filter,
            request_id=request_id or str(uuid.uuid4())))
        return self._finish(r.operation, progress) if wait else r.operation

    def get_operation(self, operation_id: str) -> operation_pb2.Operation:
        """An operation's current state."""
        return self._unary(self._operations.GetOperation, operation_pb2.GetOperationRequest(
            operation_id=operation_id)).operation

    def list_operations(self, collection: str = "", *,
                        states: Sequence[int] = ()) -> List[operation_pb2.Operation]:
        """The operations visible to this token, newest first."""
        return self._all_pages(self._operations.ListOperations,
                               operation_pb2.ListOperationsRequest(
                                   collection=collection, states=states),
                               "operations")

    def cancel_operation(self, operation_id: str) -> operation_pb2.Operation:
        """Asks a running operation to stop; returns it as it is now."""
        return self._unary(self._operations.CancelOperation,
                           operation_pb2.CancelOperationRequest(
                               operation_id=operation_id)).operation

    def wait_operation(self, operation_id: str, *, update_interval: float = 1.0,
                       progress: Optional[Callable[[operation_pb2.Operation], None]] = None
                       ) -> operation_pb2.Operation:
        """Waits for an operation to end and returns it in its final state
        (whatever the outcome); ``progress`` sees every update."""
        request = operation_pb2.WaitOperationRequest(operation_id=operation_id)
        request.update_interval.FromMilliseconds(int(update_interval * 1000))
        last: Optional[operation_pb2.Operation] = None
        stream = _call(self._operations.WaitOperation, request,
                       metadata=self._metadata)
        try:
            for r in stream:
                last = r.operation
                if progress is not None:
                    progress(last)
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        if last is None or not last.done:
            raise errors.WinnowError(
                f"operation {operation_id}: the wait ended before it did",
                grpc.StatusCode.UNAVAILABLE)
        return last

    def _finish(self, op: operation_pb2.Operation,
                progress: Optional[Callable[[operation_pb2.Operation], None]]
                ) -> operation_pb2.Operation:
        """``op`` once done: waits for it if needed, and raises a failed or
        cancelled operation's error."""
        if progress is not None:
            progress(op)
        if not op.done:
            op = self.wait_operation(op.operation_id, progress=progress)
        if op.HasField("error") and op.error.code != 0:
            code = next((c for c in grpc.StatusCode if c.value[0] == op.error.code),
                        grpc.StatusCode.UNKNOWN)
            raise errors.from_rpc_error(_Failed(code, op.error.message))
        return op

    def list_backups(self) -> List[backup_pb2.Backup]:
        """The backups in the server's backup directory, newest first."""
        return self._all_pages(self._admin.ListBackups, admin_pb2.ListBackupsRequest(),
                               "backups")

    def server_info(self) -> admin_pb2.GetServerInfoResponse:
        """The server's version, build and limits."""
        return self._unary(self._admin.GetServerInfo, admin_pb2.GetServerInfoRequest())


class _Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, message: str):
        self._code, self._message = code, message

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message
