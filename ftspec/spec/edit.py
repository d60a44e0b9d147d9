"""Edit one value of a spec's YAML text in place, keeping every comment and all other bytes.

``set_value(text, ("hyperparameters", "learning_rate_multiplier"), 5)`` replaces the value's
own characters when the key exists, and otherwise adds the key (and any missing mappings above
it) at the end of the nearest existing mapping, in its style (block or ``{flow}``). Used by
``ftspec sweep apply`` and to make each sweep variant's spec text.
"""

from __future__ import annotations

from typing import Any

import yaml

from ftspec.errors import FtspecError


class EditError(FtspecError):
    """The spec text cannot be edited at that path (e.g. a list is in the way)."""


def dump_flow(value: Any) -> str:
    """``value`` as one line of YAML (``5``, ``0.5``, ``auto``, ``{a: 1}``)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=1 << 30)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def set_value(text: str, path: tuple[str, ...], value: Any, *, file: str = "spec") -> str:
    if not path:
        raise EditError(f"{file}: no key to set")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise EditError(f"{file}: not valid YAML: {exc}") from None
    if node is None:
        raise EditError(f"{file}: the spec is empty")
    for depth, key in enumerate(path):
        if not isinstance(node, yaml.MappingNode):
            where = ".".join(path[:depth]) or "the top level"
            raise EditError(f"{file}:{node.start_mark.line + 1}: {where} is not a mapping; cannot set {'.'.join(path)}")
        child = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
        if child is None:
            return _insert(text, node, path[depth:], value)
        node = child
    if not isinstance(node, yaml.ScalarNode):
        raise EditError(f"{file}:{node.start_mark.line + 1}: {'.'.join(path)} is not a single value; cannot replace it")
    return text[:node.start_mark.index] + dump_flow(value) + text[node.end_mark.index:]


def _nest(keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    out: Any = value
    for key in reversed(keys[1:]):
        out = {key: out}
    return {keys[0]: out}


def _insert(text: str, mapping: yaml.MappingNode, keys: tuple[str, ...], value: Any) -> str:
    entry = _nest(keys, value)
    if mapping.flow_style:
        close = text.rindex("}", 0, mapping.end_mark.index)
        body = dump_flow(entry)[1:-1].strip()
        sep = ", " if mapping.value else ""
        return text[:close].rstrip() + sep + body + text[close:]
    indent = mapping.value[0][0].start_mark.column if mapping.value else 0
    block = yaml.safe_dump(entry, default_flow_style=False, allow_unicode=True, sort_keys=False)
    lines = "".join(" " * indent + line + "\n" for line in block.splitlines())
    if not mapping.value:
        at = len(text)
    else:
        end = mapping.value[-1][1].end_mark.index
        at = end if end > 0 and text[end - 1] == "\n" else text.find("\n", end) + 1
        if at == 0:  # the last value ends the file without a newline
            return text + "\n" + lines
    if at == len(text) and text and not text.endswith("\n"):
        lines = "\n" + lines
    return text[:at] + lines + text[at:]
