"""Errors the API turns into 4xx answers; their text is shown to the user
as is, so each names what was wrong and what is allowed."""
from __future__ import annotations


def sendable(text: str) -> str:
    """`text` with any lone surrogate written as its escape: JSON's "\\ud800"
    reads as one, and no UTF-8 reply can carry it (a message naming what was
    sent then failed to be written: a 500, or a stream closed without a word)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class ApiError(Exception):
    status = 400

    def __init__(self, message: str):
        message = sendable(message)
        super().__init__(message)
        self.message = message


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    """The request is fine but the session is not in a state to do it."""
    status = 409


class TooLarge(ApiError):
    status = 413


class Unprocessable(ApiError):
    status = 422


class TooMany(ApiError):
    status = 429
