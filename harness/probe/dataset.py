"""Probe items on disk: PNG images under ``dataset/images/``, and the dataset export other tools load —
``dataset/items.jsonl`` (one item per line; image paths relative to the dataset folder) and
``dataset/items.parquet`` (the same columns plus the PNG bytes of every image). Everything is published
atomically (harness.atomic).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.atomic import atomic_path, write_bytes, write_text
from harness.probe.items import LETTERS, ProbeItem

DATASET = "dataset"
IMAGES = "images"


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", compress_level=3)  # lossless; level 3: 2x faster than 6
    return buf.getvalue()


def save_item(item: ProbeItem, run_dir: Path) -> dict[str, Any]:
    """Write the item's PNGs and return its store row (harness.probe.store.ITEM_COLUMNS)."""
    folder = run_dir / DATASET / IMAGES
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, image in enumerate(item.images):
        rel = f"{IMAGES}/{item.item_id}_{k}.png"
        write_bytes(run_dir / DATASET / rel, png_bytes(image))
        paths.append(rel)
    return {"item_id": item.item_id, "frame_key": item.provenance["frame_key"], "task": item.task,
            "adapter": item.adapter, "domain": item.domain, "role": item.role, "frame_index": item.frame_index,
            "seed": item.seed, "question": item.question, "choices": json.dumps(list(item.choices)),
            "answer": item.answer, "truth": json.dumps(item.truth), "provenance": json.dumps(item.provenance,
                                                                                              default=str),
            "images": json.dumps(paths), "content_sha256": item.content_sha256()}


def load_item(row: dict[str, Any], run_dir: Path, images: bool = True) -> ProbeItem:
    """The item of a store row (JSON columns decoded), its images read back from the PNGs (none unless
    ``images``: for answerers that never look at them)."""
    pixels = tuple(np.asarray(Image.open(run_dir / DATASET / p).convert("RGB")) for p in row["images"]) \
        if images else ()
    return ProbeItem(row["item_id"], row["task"], row["adapter"], row["domain"], row["role"], row["frame_index"],
                     row["seed"], row["question"], tuple(row["choices"]), row["answer"], pixels, row["truth"],
                     row["provenance"])


def _record(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["item_id"], "task": row["task"], "world": f"{row['adapter']}/{row['domain']}",
            "adapter": row["adapter"], "domain": row["domain"], "role": row["role"], "question": row["question"],
            "choices": row["choices"], "answer": row["answer"], "answer_letter": LETTERS[row["answer"]],
            "images": row["images"], "truth": row["truth"], "provenance": row["provenance"],
            "frame_index": row["frame_index"], "seed": row["seed"], "content_sha256": row["content_sha256"]}


def export(rows: list[dict[str, Any]], run_dir: Path) -> tuple[Path, Path]:
    """Publish ``items.jsonl`` and ``items.parquet`` for the stored items; their paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = run_dir / DATASET
    folder.mkdir(parents=True, exist_ok=True)
    records = [_record(r) for r in rows]
    jsonl = folder / "items.jsonl"
    write_text(jsonl, "".join(json.dumps(r, default=str) + "\n" for r in records))
    table = pa.table({
        **{k: [r[k] for r in records] for k in ("id", "task", "world", "adapter", "domain", "role", "question",
                                                  "choices", "answer", "answer_letter", "images", "frame_index",
                                                  "seed", "content_sha256")},
        "image_bytes": [[(folder / p).read_bytes() for p in r["images"]] for r in records],
        "truth": [json.dumps(r["truth"]) for r in records],
        "provenance": [json.dumps(r["provenance"], default=str) for r in records],
    })
    parquet = folder / "items.parquet"
    with atomic_path(parquet) as tmp:
        pq.write_table(table, tmp)
    return jsonl, parquet
