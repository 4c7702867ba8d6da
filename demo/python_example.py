#!/usr/bin/env python3
"""Winnow from Python with plain gRPC stubs (Debian's /usr/bin/python3).

Generate the stubs once, from the repository root:
  mkdir -p build/python && protoc -Iproto --python_out=build/python \
    --grpc_out=build/python --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin \
    proto/winnow/v1/*.proto
Then, with winnowd running:
  PYTHONPATH=build/python /usr/bin/python3 demo/python_example.py --server 127.0.0.1:7450
"""

import argparse

import grpc
from winnow.v1 import collection_pb2, collection_pb2_grpc
from winnow.v1 import document_pb2, document_pb2_grpc
from winnow.v1 import selection_pb2, selection_pb2_grpc
from winnow.v1 import strategy_pb2


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", default="127.0.0.1:7450")
    parser.add_argument("--collection", default="python-example")
    args = parser.parse_args()

    channel = grpc.insecure_channel(args.server)
    collections = collection_pb2_grpc.CollectionServiceStub(channel)
    documents = document_pb2_grpc.DocumentServiceStub(channel)
    selection = selection_pb2_grpc.SelectionServiceStub(channel)

    try:
        collections.CreateCollection(collection_pb2.CreateCollectionRequest(
            collection=collection_pb2.Collection(name=args.collection)), timeout=10)
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise

    # One message = one atomic, durable batch, acknowledged with its sequence.
    batch = document_pb2.UpsertDocumentsRequest(collection=args.collection, sequence=1)
    for i in range(1000):
        doc = batch.documents.add(id="py-%04d" % i, domain="web" if i % 3 else "code",
                                  length=100 + i)
        doc.scores["quality"] = (i % 100) / 100.0
    for ack in documents.UpsertDocuments(iter([batch]), timeout=30):
        print("acknowledged sequence", ack.sequence, "with", ack.document_count, "documents")

    count = selection.Count(selection_pb2.CountRequest(
        collection=args.collection, filter='quality >= 0.5 and domain == "web"'), timeout=10)
    print("quality >= 0.5 and domain == \"web\":", count.count, "documents")

    # A weighted sample (w = quality^2) for rank 0 of 2, two batches of 4.
    request = selection_pb2.SampleRequest(
        collection=args.collection, seed=1, batch_size=4, num_epochs=1,
        rank=0, world_size=2, max_batches=2,
        strategy=strategy_pb2.Strategy(weighted=strategy_pb2.WeightedStrategy(
            score="quality", weight_function=strategy_pb2.WEIGHT_FUNCTION_POWER, alpha=2.0)))
    for response in selection.Sample(request, timeout=30):
        print("batch", response.batch.global_batch_index, list(response.batch.ids))


if __name__ == "__main__":
    main()
