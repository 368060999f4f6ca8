"""Screenshot an HTML report with Debian's headless chromium and measure ink in its charts.

A test helper, not a test. The report pages of :mod:`shared.formats.html_report` put every
chart at a fixed page position and write it into the slot's ``data-box`` attribute, so a test
reads the boxes from the HTML (:func:`chart_boxes`), takes one screenshot large enough to hold
them (:func:`screenshot`), and counts the pixels in a box that differ from the page's white
background, or that have one chart colour (:func:`count_ink`, :func:`count_colour`).

PNG decoding uses Pillow, which is always installed: reportlab (a runtime dependency of the
project) requires it. ``make chromium`` installs the browser (``make test`` depends on it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from PIL import Image

TIMEOUT_SECONDS = 90


@dataclass(frozen=True)
class Box:
    """A rectangle in CSS pixels from the page's top left corner."""

    name: str
    x: int
    y: int
    width: int
    height: int


class _SlotParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.boxes: dict[str, Box] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name, raw = found.get("data-chart"), found.get("data-box")
        if name and raw:
            x, y, width, height = (int(part) for part in raw.split(","))
            self.boxes[name] = Box(name, x, y, width, height)


def chart_boxes(html: str) -> dict[str, Box]:
    """The page box of every chart slot of a report page, by chart id."""
    parser = _SlotParser()
    parser.feed(html)
    return parser.boxes


def chromium_path() -> str:
    """The browser binary; a clear failure (never a skip) when ``make chromium`` was not run."""
    found = shutil.which("chromium")
    if found is None:
        raise AssertionError("chromium is not installed: run `make chromium`")
    return found


def screenshot(html_file: Path, png: Path, *, width: int, height: int) -> Image.Image:
    """Renders ``html_file`` in a ``width`` × ``height`` window at scale 1 and loads the PNG."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium_path(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            html_file.resolve().as_uri(),
        ]
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
        )
    if done.returncode != 0 or not png.exists():
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise AssertionError(f"chromium failed ({done.returncode}): {tail}")
    image = Image.open(png).convert("RGB")
    image.load()
    return image


def window_for(boxes: dict[str, Box], *, margin: int = 16) -> tuple[int, int]:
    """A window size that holds every box, with a margin right and below."""
    width = max(box.x + box.width for box in boxes.values()) + margin
    height = max(box.y + box.height for box in boxes.values()) + margin
    return width, height


def count_ink(
    image: Image.Image, box: Box, *, background: tuple[int, int, int] = (255, 255, 255)
) -> int:
    """Pixels in ``box`` that differ from ``background`` by more than anti-aliasing noise."""
    return _count(image, box, lambda pixel: _distance(pixel, background) > 24)


def count_colour(image: Image.Image, box: Box, colour: str, *, tolerance: int = 24) -> int:
    """Pixels in ``box`` within ``tolerance`` of ``colour`` (``#rrggbb``, as in the SVG)."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour):
        raise ValueError(f"colour must be #rrggbb, got {colour!r}")
    target = (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))
    return _count(image, box, lambda pixel: _distance(pixel, target) <= tolerance)


def _count(image: Image.Image, box: Box, keep: Callable[[tuple[int, ...]], bool]) -> int:
    if (
        box.x < 0
        or box.y < 0
        or box.x + box.width > image.width
        or (box.y + box.height > image.height)
    ):
        raise AssertionError(f"box {box} lies outside the {image.width}×{image.height} screenshot")
    region = image.crop((box.x, box.y, box.x + box.width, box.y + box.height))
    raw = region.tobytes()  # RGB, three bytes a pixel
    return sum(1 for i in range(0, len(raw), 3) if keep((raw[i], raw[i + 1], raw[i + 2])))


def _distance(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    return max(abs(x - y) for x, y in zip(a[:3], b[:3], strict=True))
