"""SMS segmentation: how many billable parts a message of N characters takes."""

from __future__ import annotations

from shared.domain.calls import Encoding

#: (characters in a single-part message, characters per part of a concatenated one)
_LIMITS: dict[Encoding, tuple[int, int]] = {
    Encoding.GSM7: (160, 153),  # 7 bytes of the 140 go to the concatenation header
    Encoding.UCS2: (70, 67),
}


def sms_segments(characters: int, encoding: Encoding) -> int:
    """Segments for a message: 160 GSM-7 chars is one part, 161 is two (153 + 8)."""
    if characters < 1:
        raise ValueError("a message has at least one character")
    single, per_part = _LIMITS[encoding]
    if characters <= single:
        return 1
    return -(-characters // per_part)
