"""The codec interface, by its public name: ``from bench.codec import Codec, Knob, register_codec``.

Defined in :mod:`bench.api.codec` (see there); plugin files and packages import it from here.
"""

from bench.api.codec import (
    Codec,
    CodecError,
    Knob,
    check_rgb8,
    codec_spec_of,
    is_registered_codec,
    register_codec,
    register_codec_spec,
)

__all__ = [
    "Codec",
    "CodecError",
    "Knob",
    "register_codec",
    "is_registered_codec",
    "register_codec_spec",
    "codec_spec_of",
    "check_rgb8",
]
