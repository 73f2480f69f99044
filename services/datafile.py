"""Load a YAML data file into a pydantic model, with errors that name the place.

Every problem becomes one `ValueError` whose message lists, per error, the file,
the line in the file and the dotted field path, e.g.::

    data/warranty.yaml: 1 problem
      line 41, lines.computer.components[3].period: unknown unit 'yaers'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def load_model(path: str | Path, model: type[M]) -> M:
    """Read `path` as YAML and validate it as `model`; raise `ValueError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(format_errors(path, exc, root)) from exc


def format_errors(path: Path, exc: ValidationError, root: yaml.Node | None = None) -> str:
    """One line per validation error: file line (when known), field path, message."""
    lines = [f"{path}: {exc.error_count()} problem{'s' if exc.error_count() != 1 else ''}"]
    found = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        line = _line_of(root, loc) if root is not None else None
        message = error["msg"].removeprefix("Value error, ")
        found.append((line or 0, f"  {f'line {line}, ' if line else ''}{field_path(loc) or '(top level)'}: {message}"))
    lines.extend(text for _, text in sorted(found, key=lambda item: item[0]))
    return "\n".join(lines)


def field_path(loc: tuple[Any, ...]) -> str:
    """`("lines", "pc", "components", 3, "period")` -> `lines.pc.components[3].period`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in str(part):
            continue  # a pydantic validator frame such as "function-after[...]", not a field
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest YAML node that `loc` reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _child(node: yaml.Node | None, part: Any) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value  # type: ignore[no-any-return]
    elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]  # type: ignore[no-any-return]
    return None
