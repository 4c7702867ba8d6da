"""Winnow's Python client.

    import winnow
    client = winnow.Client("127.0.0.1:7450")
    client.create_collection("web", exist_ok=True)
    client.upsert("web", [{"id": "a", "domain": "web", "length": 12}])
    for batch in client.sample("web", batch_size=32, seed=7, num_epochs=1):
        train(batch.ids)

winnow.torch.WinnowIterableDataset is the PyTorch dataset (needs torch).
docs/python.md in the Winnow repository describes the package.
"""

from winnow.client import (Client, FilterResult, Neighbors, SampleBatch,
                           Scores, UpsertResult, column_array, score_column)
from winnow.cursor import CursorPosition, cursor_position
from winnow.errors import (AlreadyExists, DeadlineExceeded, FailedPrecondition,
                           InvalidArgument, NotFound, PermissionDenied,
                           ResourceExhausted, Unauthenticated, Unavailable,
                           Unimplemented, WinnowError)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExists", "Client", "CursorPosition", "DeadlineExceeded",
    "FailedPrecondition", "FilterResult", "InvalidArgument", "Neighbors",
    "NotFound",
    "PermissionDenied", "ResourceExhausted", "SampleBatch", "Scores",
    "Unauthenticated", "Unavailable", "Unimplemented", "UpsertResult",
    "WinnowError", "column_array", "cursor_position", "score_column",
]
