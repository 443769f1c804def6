"""Face templates and captures, and the matcher that compares them.

A template (from the register) and a capture (from the applicant) are the same thing on the
wire: :data:`FACE_TEMPLATE_DIMENSIONS` little-endian float32 values, as unpadded base64url.
Matching is behind the :class:`FaceMatcher` protocol (ARCHITECTURE.md section 7,
enrollment); the only implementation here is :class:`SimulatedFaceMatcher`, for development
and tests. Example::

    >>> import struct
    >>> vector = struct.pack("<64f", 1.0, *([0.0] * 63))
    >>> SimulatedFaceMatcher().compare(vector, decode_face(encode_face(vector))).matched
    True
"""

from __future__ import annotations

import math
import re
import struct
from dataclasses import dataclass
from typing import Protocol

from realdid.crypto import EncodingError, b64url_decode, b64url_encode

from ._errors import AuthorityError

FACE_TEMPLATE_DIMENSIONS = 64
"""A face template is this many little-endian float32 values (a unit vector)."""
FACE_TEMPLATE_BYTES = FACE_TEMPLATE_DIMENSIONS * 4
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class FaceCaptureError(AuthorityError):
    """A face template or capture that is not a finite, non-zero float32 vector."""

    code = "face-capture-invalid"


def encode_face(vector: bytes) -> str:
    """A template or capture as unpadded base64url (RFC 4648 §5)."""
    return b64url_encode(vector)


def decode_face(text: str) -> bytes:
    """Parse unpadded base64url into a checked face vector (:func:`face_vector`)."""
    # A length of 4n+1 is not base64url at all: its last character would carry no whole byte.
    if _BASE64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise FaceCaptureError("face data must be unpadded base64url")
    try:
        raw = b64url_decode(text)
    except EncodingError as e:  # what is left: trailing bits set, a second spelling
        raise FaceCaptureError("face data is not canonical base64url") from e
    face_vector(raw)
    return raw


def face_vector(raw: bytes) -> tuple[float, ...]:
    """Unpack a template or capture; raise :class:`FaceCaptureError` unless usable."""
    if len(raw) != FACE_TEMPLATE_BYTES:
        raise FaceCaptureError(f"face data must be {FACE_TEMPLATE_BYTES} bytes")
    vector = struct.unpack(f"<{FACE_TEMPLATE_DIMENSIONS}f", raw)
    if not all(math.isfinite(x) for x in vector) or not any(vector):
        raise FaceCaptureError("face data must be finite and non-zero")
    return vector


@dataclass(frozen=True, slots=True)
class FaceComparison:
    """A matcher's verdict: the similarity score and whether it reached the threshold."""

    score: float
    matched: bool


class FaceMatcher(Protocol):
    """Compares a register template with a live capture (ARCHITECTURE.md §7, enrollment)."""

    def compare(self, template: bytes, capture: bytes) -> FaceComparison: ...


class SimulatedFaceMatcher:
    """SIMULATED face matching, for development, tests and benchmarks only.

    Templates and captures here are synthetic vectors (see
    :func:`realdid.authority.generate_residents`), and "matching" is their cosine
    similarity against ``threshold``. This proves nothing about a real face: a deployment
    plugs a certified biometric matcher (with liveness detection) into :class:`FaceMatcher`.
    """

    def __init__(self, threshold: float = 0.9) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError("threshold is a cosine similarity, between -1 and 1")
        self.threshold = threshold

    def compare(self, template: bytes, capture: bytes) -> FaceComparison:
        a = face_vector(template)
        b = face_vector(capture)
        dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
        norms = math.sqrt(math.fsum(x * x for x in a)) * math.sqrt(math.fsum(y * y for y in b))
        score = dot / norms if norms > 0.0 else math.nan
        if not math.isfinite(score):
            raise FaceCaptureError("face data must have a finite, non-zero length")
        return FaceComparison(score=score, matched=score >= self.threshold)
