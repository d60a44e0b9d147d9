"""YAML loading that remembers where every key and value sits (line and column)."""

from __future__ import annotations

from typing import Any

import yaml

from ftspec.errors import Location, Problem, SpecError

Path_ = tuple[str | int, ...]


class Positions:
    """Maps a key path like ("hyperparameters", "n_epochs") to the value's and key's location."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.values: dict[Path_, Location] = {}
        self.keys: dict[Path_, Location] = {}

    def value(self, path: Path_) -> Location:
        """The location of the value at ``path``, or of its closest located ancestor."""
        for cut in range(len(path), -1, -1):
            loc = self.values.get(tuple(path[:cut]))
            if loc is not None:
                return loc
        return Location(self.file, 1, 1)

    def key(self, path: Path_) -> Location:
        return self.keys.get(tuple(path)) or self.value(path)


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: Path_, pos: Positions) -> None:
    pos.values[path] = _loc(pos.file, node)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            pos.keys[path + (key,)] = _loc(pos.file, key_node)
            _walk(value_node, path + (key,), pos)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (index,), pos)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}'", mark
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def load_yaml_with_positions(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document; a syntax error becomes a one-line located ``SpecError``."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Positions(file)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        col = mark.column + 1 if mark else 1
        what = exc.problem or exc.context or "invalid YAML"
        raise SpecError([Problem(Location(file, line, col), f"invalid YAML: {what}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(Location(file, 1, 1), f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    pos = Positions(file)
    _walk(node, (), pos)
    return data, pos


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
