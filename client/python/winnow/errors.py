"""Winnow's errors as Python exceptions.

Every failed call raises a :class:`WinnowError` (or one of its subclasses,
one per common gRPC status code) that carries the gRPC status code and the
server's message, which names the field at fault.
"""

from __future__ import annotations

from typing import Dict, Optional, Type

import grpc


class WinnowError(Exception):
    """A call failed. ``code`` is the gRPC status code, ``message`` Winnow's
    message (for example ``"batch_size: must be >= 1, got 0"``)."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN

    def __init__(self, message: str, code: Optional[grpc.StatusCode] = None):
        if code is not None:
            self.code = code
        self.message = message
        super().__init__(f"{self.code.name}: {message}")


class InvalidArgument(WinnowError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(WinnowError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(WinnowError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(WinnowError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(WinnowError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(WinnowError):
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(WinnowError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(WinnowError):
    code = grpc.StatusCode.UNAVAILABLE


class Unimplemented(WinnowError):
    code = grpc.StatusCode.UNIMPLEMENTED


class DeadlineExceeded(WinnowError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


_BY_CODE: Dict[grpc.StatusCode, Type[WinnowError]] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, AlreadyExists, FailedPrecondition,
                PermissionDenied, Unauthenticated, ResourceExhausted,
                Unavailable, Unimplemented, DeadlineExceeded)
}


def from_rpc_error(error: grpc.RpcError) -> WinnowError:
    """The WinnowError for a failed gRPC call."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, WinnowError)
    if cls is WinnowError:
        return WinnowError(details or "", code)
    return cls(details or "")
