"""Reading YAML a user wrote, with bounds: size, alias expansion, nesting and duplicate keys.

PyYAML's ``safe_load`` builds no objects beyond plain data, but it accepts a key written twice (the last one wins,
silently) and aliases that expand exponentially ("billion laughs": a few hundred bytes that become gigabytes once
anything walks the result). Every error here is one line naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from harness.errors import CrossviewError

MAX_BYTES = 1 << 20  # 1 MiB: a sweep config is a few kilobytes
MAX_NODES = 100_000  # values after aliases are expanded


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                key = f"{key_node.tag}:{key_node.value}"
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key_node.value!r} appears twice (first at line {seen[key]}): keep one",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def expanded_size(root: Node) -> int:
    """How many values ``root`` stands for once every alias is expanded (shared nodes counted each time)."""
    memo: dict[int, int] = {}

    def size(node: Node) -> int:
        got = memo.get(id(node))
        if got is not None:
            return got
        memo[id(node)] = MAX_NODES + 1  # a node inside itself (recursive alias) counts as too large
        if isinstance(node, SequenceNode):
            total = 1 + sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total = 1 + sum(size(k) + size(v) for k, v in node.value)
        else:
            total = 1
        memo[id(node)] = total = min(total, 10 * MAX_NODES)
        return total

    return size(root)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse YAML text; CrossviewError (one line, with the line number) for anything malformed or too large."""
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses some characters here
        node = loader.get_single_node()
        if node is None:
            return None
        n = expanded_size(node)
        if n > MAX_NODES:
            raise CrossviewError(f"{source}: its aliases (*name) expand to more than {MAX_NODES:,} values (or refer "
                                 "to themselves): write the values out, or use fewer aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CrossviewError(f"{source}: not valid YAML{where}: {' '.join(str(problem).split())}") from None
    except RecursionError:
        raise CrossviewError(f"{source}: nested too deeply to be a config") from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(path: str | Path, what: str = "file") -> Any:
    """Read a UTF-8 YAML file of at most 1 MiB; one-line errors name the file and what to fix."""
    p = Path(path)
    if p.is_dir():
        raise CrossviewError(f"{what} {p} is a folder: give the YAML file")
    if not p.is_file():
        raise CrossviewError(f"{what} {p} does not exist")
    size = p.stat().st_size
    if size > MAX_BYTES:
        raise CrossviewError(f"{p}: {size:,} bytes is more than a config may hold ({MAX_BYTES:,}): "
                             "list fewer values (seeds, episodes) or split it")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise CrossviewError(f"{p}: not UTF-8 text (byte {exc.start}, line {line}): save it as UTF-8") from None
    return load_yaml_text(text, str(p))
