"""The RGB probes (Spatial-SSRL's depth-free tasks, arXiv 2510.27606 section 3; InternLM/Spatial-SSRL:
data_process/Shuffle.py, Flip.py and Crop.py show how its items are made. The reorder answer is Shuffle.py:68's
``argsort(shuffled_indices)``, per original position the shown piece; upstream numbers pieces from 0 and has a
"mosaic" variant with one piece blanked, here pieces are numbered from 1 and there is no mosaic):

- shuffled patch reordering: the image cut into a grid, the pieces shuffled and numbered; which sequence of
  piece numbers restores the original (four candidate sequences);
- flipped patch recognition: one piece of the numbered grid flipped horizontally or vertically; which piece and
  which way (every piece × both directions);
- cropped patch inpainting: a square of half the shorter side blacked out; which of four candidates fills it —
  the true crop, or a distractor made by rotating it 90° either way, zooming into its interior, or taking a
  larger context around it (Crop.py's five distractor kinds).

Items whose distinct answers would look alike (a piece that is its own mirror image, two equal pieces, a
distractor equal to the crop) are skipped: their answer would not be verifiable from the image.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from harness.probe.frames import Frame
from harness.probe.marks import number_patches
from harness.probe.options import GenOptions


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) if a.shape == b.shape else 255.0


def split(rgb: np.ndarray, grid: int) -> list[np.ndarray]:
    """The image cropped to a multiple of ``grid`` and cut into grid × grid patches in reading order."""
    ph, pw = rgb.shape[0] // grid, rgb.shape[1] // grid
    return [rgb[r * ph:(r + 1) * ph, c * pw:(c + 1) * pw].copy() for r in range(grid) for c in range(grid)]


def _distinct(patches: list[np.ndarray], opts: GenOptions) -> bool:
    return all(_diff(patches[i], patches[j]) >= opts.min_patch_diff
               for i in range(len(patches)) for j in range(i + 1, len(patches)))


def _sequence(order: np.ndarray) -> str:
    return " ".join(str(int(k) + 1) for k in order)


def patch_reorder(frame: Frame, rng: np.random.Generator, opts: GenOptions) -> dict | None:
    """Shown piece k is original piece ``perm[k]``; the answer lists, per original position, the shown number."""
    patches = split(frame.rgb, opts.grid)
    n = len(patches)
    if not _distinct(patches, opts):
        return None
    perm = rng.permutation(n)
    while (perm == np.arange(n)).all():
        perm = rng.permutation(n)
    correct = _sequence(np.argsort(perm))
    choices = {correct}
    while len(choices) < 4:
        choices.add(_sequence(rng.permutation(n)))
    ordered = sorted(choices)
    order = rng.permutation(len(ordered))
    ordered = [ordered[int(i)] for i in order]
    positions = ", ".join(("top-left", "top-right", "bottom-left", "bottom-right")) if opts.grid == 2 else \
        "reading order"
    return {"question": f"The image was cut into a {opts.grid}x{opts.grid} grid and the pieces were shuffled; they "
                        f"are shown numbered 1-{n} in reading order. Which sequence of piece numbers, placed at "
                        f"{positions}, restores the original image?",
            "choices": tuple(ordered), "answer": ordered.index(correct),
            "images": (number_patches([patches[int(k)] for k in perm], opts.grid),),
            "truth": {"perm": [int(k) for k in perm]}, "provenance": {"grid": opts.grid}}


DIRECTIONS = ("horizontally (left-right mirrored)", "vertically (upside down)")


def flip_choices(n: int) -> tuple[str, ...]:
    """Every piece × both directions, in a fixed order."""
    return tuple(f"piece {k + 1} flipped {d}" for k in range(n) for d in DIRECTIONS)


def patch_flip(frame: Frame, rng: np.random.Generator, opts: GenOptions) -> dict | None:
    """One numbered piece mirrored left-right or upside down; which piece, which way."""
    patches = split(frame.rgb, opts.grid)
    k, d = int(rng.integers(len(patches))), int(rng.integers(2))
    flipped = patches[k][:, ::-1] if d == 0 else patches[k][::-1]
    other = patches[k][::-1] if d == 0 else patches[k][:, ::-1]
    if _diff(flipped, patches[k]) < opts.min_patch_diff or _diff(flipped, other) < opts.min_patch_diff:
        return None
    shown = [*patches]
    shown[k] = np.ascontiguousarray(flipped)
    choices = flip_choices(len(patches))
    return {"question": f"The image was cut into a {opts.grid}x{opts.grid} grid of pieces numbered 1-{len(patches)} "
                        "in reading order, and exactly one piece was flipped. Which piece was flipped, and how?",
            "choices": choices, "answer": choices.index(f"piece {k + 1} flipped {DIRECTIONS[d]}"),
            "images": (number_patches(shown, opts.grid),),
            "truth": {"piece": k, "direction": d}, "provenance": {"grid": opts.grid}}


def _resize(img: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((side, side), Image.BILINEAR))


def _context(rgb: np.ndarray, x: int, y: int, side: int, grow: float) -> np.ndarray:
    h, w = rgb.shape[:2]
    m = int(side * grow)
    return _resize(rgb[max(0, y - m): min(h, y + side + m), max(0, x - m): min(w, x + side + m)], side)


def patch_inpaint(frame: Frame, rng: np.random.Generator, opts: GenOptions) -> dict | None:
    """A blacked-out square and four candidates: the true crop and three distinct distractors."""
    rgb = frame.rgb
    h, w = rgb.shape[:2]
    side = min(h, w) // 2
    x, y = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
    crop = rgb[y:y + side, x:x + side].copy()
    q = side // 4
    makers = {"rotated left": lambda: np.rot90(crop, 1), "rotated right": lambda: np.rot90(crop, -1),
              "interior zoom": lambda: _resize(crop[q:side - q, q:side - q], side),
              "context 1.25x": lambda: _context(rgb, x, y, side, 0.25),
              "context 1.5x": lambda: _context(rgb, x, y, side, 0.5)}
    names = [list(makers)[int(i)] for i in rng.permutation(len(makers))]
    distractors: list[tuple[str, np.ndarray]] = []
    for name in names:
        cand = np.ascontiguousarray(makers[name]())
        if all(_diff(cand, other) >= opts.min_patch_diff for other in [crop, *(c for _, c in distractors)]):
            distractors.append((name, cand))
        if len(distractors) == 3:
            break
    if len(distractors) < 3:
        return None
    correct = int(rng.integers(4))
    candidates = [c for _, c in distractors]
    kinds = [n for n, _ in distractors]
    candidates.insert(correct, crop)
    kinds.insert(correct, "true crop")
    blacked = rgb.copy()
    blacked[y:y + side, x:x + side] = 0
    return {"question": "A square region of the first image was blacked out. Images 2-5 are candidates 1-4. "
                        "Which candidate fills the blacked-out region exactly?",
            "choices": tuple(f"candidate {i + 1}" for i in range(4)), "answer": correct,
            "images": (blacked, *candidates), "truth": {"correct": correct},
            "provenance": {"box": [x, y, x + side - 1, y + side - 1], "kinds": kinds}}
