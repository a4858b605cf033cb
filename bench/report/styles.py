"""How each curve is drawn, in the figures (:mod:`bench.report.figures`) and on the page
(:mod:`bench.report.html`): colours, markers and line styles, and which points of a dense curve are drawn.
Without matplotlib, so that a report without figures does not import it.

**Styles.** A codec has the same colour and marker in every report (:func:`assign_styles`): well-known
codecs (ours, CompressAI's anchors) have fixed ones (:data:`KNOWN_STYLES`), any other name is hashed
(CRC-32 of its lower-case letters and digits) into a palette of 20 colours and 12 markers. Only when
another codec of the same report already has that colour does a hashed name move on to the next
colour no codec of the report has (known names first, then the others in name order, so the result
does not depend on the order of the curves); with more than 20 codecs, to the next free pair of colour
and marker. Traditional codecs are drawn with solid lines and filled markers, neural codecs
with dashed lines, published curves with dotted lines and hollow markers. A published curve of a
codec we also ran or know (CompressAI's "JPEG" and our ``jpeg``; "bmshj2018-hyperprior" and our
``compressai:bmshj2018-hyperprior``) shares that codec's colour, so the two are easy to compare.

**Dense curves.** A curve of more than :data:`MAX_DRAWN_POINTS` points (a published file of a million) is
drawn through at most that many (:func:`drawn_points`: evenly along its length on the figure); every
number computed from it (BD tables, intervals) uses all its points.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from bench.analysis.curves import Curve

__all__ = ["MAX_DRAWN_POINTS", "drawn_points", "Style", "KNOWN_STYLES", "assign_styles", "WIDTHS", "FORMATS"]

WIDTHS = {"single": 3.5, "double": 7.16}  # inches: IEEE/ACM column widths of the figures
FORMATS = ("png", "pdf", "svg")  # the files of each figure

_PALETTE = (  # tab10, then darker and lighter companions: 20 colours that print distinguishably
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#ff7f0e",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#843c39",
    "#637939",
    "#8c6d31",
    "#7b4173",
    "#3182bd",
    "#e6550d",
    "#31a354",
    "#756bb1",
    "#636363",
)
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h", "p", "*")
#: Fixed (colour, marker) of well-known codecs, by name in lower-case letters and digits.
KNOWN_STYLES: dict[str, tuple[str, str]] = {
    "jpeg": ("#1f77b4", "o"),
    "webp": ("#d62728", "s"),
    "jpeg2000": ("#2ca02c", "^"),
    "heif": ("#ff7f0e", "D"),
    "avif": ("#9467bd", "v"),
    "jpegxl": ("#8c564b", "P"),
    "jpegxlcli": ("#8c6d31", "X"),
    "bpg": ("#e377c2", "X"),
    "factorizedsmall": ("#17becf", "h"),
    "av1": ("#7b4173", "<"),
    "hm": ("#bcbd22", ">"),
    "vtm": ("#7f7f7f", "p"),
    "bmshj2018factorized": ("#393b79", "o"),
    "bmshj2018hyperprior": ("#843c39", "s"),
    "mbt2018mean": ("#637939", "^"),
    "mbt2018": ("#3182bd", "D"),
    "cheng2020anchor": ("#e6550d", "v"),
    "cheng2020attn": ("#31a354", "P"),
}
_LINESTYLES = {"traditional": "-", "neural": "--", "published": ":"}


@dataclass(frozen=True)
class Style:
    """How one curve is drawn: colour (hex), marker, line style, and hollow markers (published curves)."""

    color: str
    marker: str
    linestyle: str
    hollow: bool

    def kwargs(self) -> dict:
        """The style as keyword arguments of ``Axes.plot``."""
        return {
            "color": self.color,
            "marker": self.marker,
            "linestyle": self.linestyle,
            "markerfacecolor": "white" if self.hollow else self.color,
            "markeredgecolor": self.color,
        }


def _letters_and_digits(name: str) -> str:
    """``name`` in lower case without anything but letters and digits (``JPEG-XL`` -> ``jpegxl``)."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _codec_key(codec: str) -> str:
    """A codec's family key: its name in lower-case letters and digits, without a ``compressai:`` prefix."""
    return _letters_and_digits(codec.split(":", 1)[1] if codec.lower().startswith("compressai:") else codec)


def _style_family(curve: Curve, measured: set[str]) -> str:
    """Published curves of a codec we measured or know join its family ("JPEG", "BPG 8b 444 ..." -> jpeg,
    bpg); other published curves are their own family, by label."""
    if curve.kind != "published":
        return _codec_key(curve.codec)
    first_word = curve.codec.split()[0] if curve.codec.split() else ""
    for candidate in (_codec_key(curve.codec), _letters_and_digits(first_word)):
        if candidate and (candidate in measured or candidate in KNOWN_STYLES):
            return candidate
    return _letters_and_digits(curve.label) or curve.label


def _hashed_style(key: str) -> tuple[int, int]:
    """(colour, marker) indices of a name, the same in every report."""
    h = zlib.crc32(key.encode("utf-8"))
    return h % len(_PALETTE), (h // len(_PALETTE)) % len(_MARKERS)


def assign_styles(curves: Sequence[Curve]) -> dict[str, Style]:
    """A style per curve label, derived from the codec's name (see the module docstring): the same
    in every report and whatever the order of ``curves``."""
    measured = {_codec_key(c.codec) for c in curves if c.kind != "published"}
    taken: set[tuple[str, str]] = set()
    pairs: dict[str, tuple[str, str]] = {}

    def claim(key: str) -> tuple[str, str]:
        if key in pairs:
            return pairs[key]
        if key in KNOWN_STYLES:
            pair = KNOWN_STYLES[key]
        else:
            colour, marker = _hashed_style(key)
            used = {c for c, _ in taken}
            free = [_PALETTE[(colour + i) % len(_PALETTE)] for i in range(len(_PALETTE))]
            free = [c for c in free if c not in used]
            if free:  # the hashed colour, or the next one no other family of this report has
                pair = (free[0], _MARKERS[marker])
            else:  # more families than colours: the next colour and marker no other family has
                for step in range(len(_PALETTE) * len(_MARKERS)):
                    pair = (
                        _PALETTE[(colour + step) % len(_PALETTE)],
                        _MARKERS[(marker + step // len(_PALETTE)) % len(_MARKERS)],
                    )
                    if pair not in taken:
                        break
        taken.add(pair)
        pairs[key] = pair
        return pair

    # known names first (they never move), then the others by name: collisions resolve the same way each time
    keyed = [(_style_family(c, measured), c) for c in curves]
    for key in sorted({k for k, _ in keyed}, key=lambda k: (k not in KNOWN_STYLES, k)):
        claim(key)
    styles: dict[str, Style] = {}
    # several files of one published model ("cheng2020-anchor [mse_cpu]", "[mse_cuda]", ...): the same colour,
    # each its own marker (hashed from the label; the next one unused in the family if another variant has it)
    markers: dict[str, str] = {}
    used: dict[str, set[str]] = {}
    for key, label in sorted((k, c.label) for k, c in keyed if c.kind == "published" and c.label != c.codec):
        family = used.setdefault(key, {pairs[key][1]})
        start = _hashed_style(_letters_and_digits(label))[1]
        options = [_MARKERS[(start + i) % len(_MARKERS)] for i in range(len(_MARKERS))]
        markers[label] = next((m for m in options if m not in family), options[0])
        family.add(markers[label])
    for key, curve in keyed:
        colour, marker = pairs[key]
        styles[curve.label] = Style(
            color=colour,
            marker=markers.get(curve.label, marker),
            linestyle=_LINESTYLES.get(curve.kind, "-."),
            hollow=curve.kind == "published",
        )
    return styles


#: The most points a curve is drawn through (figures, the page's plots); a figure shows no more (module docstring).
MAX_DRAWN_POINTS = 2000


def drawn_points(*axes: np.ndarray) -> np.ndarray:
    """The indices of the points to draw of a curve whose points are given one array per axis (finite, in
    order along the curve): all of them up to :data:`MAX_DRAWN_POINTS`, else the first point of each of that
    many equal steps along the curve's length (each axis scaled to its range) and the last point."""
    count = len(axes[0])
    if count <= MAX_DRAWN_POINTS:
        return np.arange(count)
    squared = np.zeros(count - 1)
    for values in axes:
        span = np.ptp(values)
        if span > 0:
            squared += (np.diff(values) / span) ** 2
    length = np.concatenate([[0.0], np.cumsum(np.sqrt(squared))])
    if length[-1] == 0:
        return np.array([0, count - 1])
    step = np.floor(length / length[-1] * (MAX_DRAWN_POINTS - 1))
    return np.union1d(np.flatnonzero(np.diff(step, prepend=-1.0) > 0), [count - 1])
