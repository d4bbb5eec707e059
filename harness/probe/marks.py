"""Marks drawn on probe images: labelled boxes around regions and objects, numbered grid patches.

Labels are numbers (as Spatial-SSRL marks its regions, InternLM/Spatial-SSRL:data_process/Depth.py), so they
never read as the lettered choices.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

COLOURS = ((255, 40, 40), (40, 120, 255), (255, 200, 0), (0, 200, 90))


def _font(height: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=max(9, height // 14))


def _tag(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, font: ImageFont.ImageFont,
         fill: tuple[int, int, int]) -> None:
    """``text`` in white on a filled rectangle at ``xy``."""
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    draw.rectangle((x0 - 1, y0 - 1, x1 + 1, y1 + 1), fill=fill)
    draw.text(xy, text, fill=(255, 255, 255), font=font)


def draw_boxes(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]], labels: list[str]) -> np.ndarray:
    """``rgb`` with each box (x0, y0, x1, y1, inclusive) outlined and its label in a filled tag at its corner."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    font = _font(rgb.shape[0])
    width = max(1, rgb.shape[0] // 112)
    for k, ((x0, y0, x1, y1), label) in enumerate(zip(boxes, labels)):
        colour = COLOURS[k % len(COLOURS)]
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        _tag(draw, (x0, y0 - font.size - 2 if y0 >= font.size + 2 else y1 + 1), label, font, colour)
    return np.asarray(img)


def number_patches(patches: list[np.ndarray], grid: int) -> np.ndarray:
    """Patches (reading order) tiled into a grid, each framed and numbered from 1."""
    font = _font(patches[0].shape[0] * grid)
    framed = []
    for k, p in enumerate(patches):
        img = Image.fromarray(p)
        draw = ImageDraw.Draw(img)
        draw.rectangle((0, 0, p.shape[1] - 1, p.shape[0] - 1), outline=(255, 255, 255), width=1)
        _tag(draw, (2, 2), str(k + 1), font, (0, 0, 0))
        framed.append(np.asarray(img))
    rows = [np.concatenate(framed[r * grid:(r + 1) * grid], axis=1) for r in range(grid)]
    return np.concatenate(rows, axis=0)
