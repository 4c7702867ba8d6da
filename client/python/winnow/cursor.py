"""Reading where a Sample cursor points.

A cursor is opaque to clients: it is stored and handed back unchanged, and
only the server may make one (it is signed). Its content is documented
(proto/winnow/v1/cursor.proto), so a client may read the position it names,
which the PyTorch dataset does to know which epoch it is in.
"""

from __future__ import annotations

import base64
import dataclasses

from winnow.v1 import cursor_pb2


@dataclasses.dataclass(frozen=True)
class CursorPosition:
    """Where a cursor resumes: the plan, the epoch and the next global
    batch of that epoch."""

    plan_id: str
    epoch: int
    next_global_batch: int


def cursor_position(token: str) -> CursorPosition:
    """The position a cursor token names. Raises ValueError for a string
    that is not a cursor; it does not check the signature (the server
    does)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        signed = cursor_pb2.SignedCursor.FromString(raw)
        cursor = cursor_pb2.Cursor.FromString(signed.cursor)
    except Exception as e:  # binascii.Error, DecodeError
        raise ValueError(f"not a Winnow cursor: {e}") from None
    if cursor.format_version == 0 or not cursor.plan_id:
        raise ValueError("not a Winnow cursor: no format version or plan")
    return CursorPosition(cursor.plan_id, cursor.epoch, cursor.next_global_batch)
