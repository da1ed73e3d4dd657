"""Amazon serves a document gzip-compressed or plain; one place tells them apart and unpacks it."""

from __future__ import annotations

import gzip
import zlib

GZIP_MAGIC = b"\x1f\x8b"


class CorruptGzipError(ValueError):
    """A document that starts like gzip but does not decompress (a cut or damaged download)."""


def is_gzip(document: bytes) -> bool:
    """Whether the bytes are gzip-compressed (gzip's magic number), whatever the headers said."""
    return document[:2] == GZIP_MAGIC


def gunzipped(document: bytes) -> bytes:
    """The document's bytes, decompressed when they are gzip, as they are otherwise."""
    data = bytes(document)
    if not is_gzip(data):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise CorruptGzipError(f"the gzip document does not decompress ({error})") from error
