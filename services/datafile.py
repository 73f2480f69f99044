"""Load a YAML data file into a pydantic model, with errors an operator can act on.

Every problem becomes one line `<file>: <field path>: <what is wrong> (line N)`, and
all of them are raised together as one `ValueError`, e.g.::

    data/warranty.yaml: lines.computer.components[3].period: unknown unit 'yaers' (line 41)

Duplicate keys are refused (YAML would silently keep the last one). With
`text_scalars`, every scalar stays text, so `NO`, `0800` or `1.10` never turn
into booleans or numbers (for codes and names).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError
from yaml.constructor import SafeConstructor

M = TypeVar("M", bound=BaseModel)
FieldPath = tuple[str | int, ...]  # a field path such as ("lines", 2, "names", "ka")

_KIND = {str: "text", list: "a list", dict: "a mapping", type(None): "nothing"}
_MESSAGES = {
    "missing": "missing",
    "extra_forbidden": "unknown field",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def problem(msg: str, subpath: FieldPath = ()) -> PydanticCustomError:
    """An error for a validator to raise; `subpath` is appended to the error's own location."""
    return PydanticCustomError("data_file", "{msg}", {"msg": msg, "subpath": subpath})


def load_model(path: str | Path, model: type[M], *, text_scalars: bool = False) -> M:
    """Read `path` as YAML and validate it as `model`; ValueError listing every problem found."""
    where = display(Path(path))
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ValueError(f"{where}: cannot read: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ValueError(f"{where}: cannot read: not UTF-8 text (byte {e.start})") from e
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f"line {mark.line + 1}: " if mark else ""
        raise ValueError(f"{where}: {at}YAML syntax error: {e.problem or e.context}") from e
    except yaml.YAMLError as e:
        raise ValueError(f"{where}: YAML syntax error: {e}") from e
    if root is None:
        raise ValueError(f"{where}: the file is empty")

    lines: dict[FieldPath, int] = {}
    errors: list[str] = []
    data = _plain(root, (), lines, errors, SafeConstructor() if not text_scalars else None)
    if not errors:
        try:
            return model.model_validate(data)
        except ValidationError as e:
            errors += [_describe(error, lines) for error in e.errors()]
    raise ValueError("\n".join(f"{where}: {m}" for m in errors))


def display(path: Path) -> str:
    """The path as the operator knows it: relative to where they are, if inside."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def field_path(path: FieldPath) -> str:
    """`("lines", "pc", "components", 3, "period")` -> `lines.pc.components[3].period`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _plain(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], errors: list[str],
           typed: SafeConstructor | None) -> Any:
    """A composed YAML node as plain data, recording each path's line; duplicate keys are errors."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            sub = path + (key,)
            if key in out:
                errors.append(f"{field_path(sub)}: duplicate key (line {key_node.start_mark.line + 1})")
            lines.setdefault(sub, key_node.start_mark.line + 1)
            out[key] = _plain(value_node, sub, lines, errors, typed)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines.setdefault(path + (i,), item.start_mark.line + 1)
            items.append(_plain(item, path + (i,), lines, errors, typed))
        return items
    if typed is not None:
        return typed.construct_object(node, deep=True)
    if node.value == "" and getattr(node, "style", None) is None:
        return None  # a key with nothing after it
    return node.value


def _describe(err: Any, lines: dict[FieldPath, int]) -> str:
    """`field path: message (line N)` for one pydantic error."""
    ctx = err.get("ctx") or {}
    path: FieldPath = tuple(part for part in err["loc"] if "[" not in str(part))  # not validator frames
    path += tuple(ctx.get("subpath", ()))
    if err["type"] == "data_file":
        msg = ctx["msg"]
    elif err["type"] in _MESSAGES:
        msg = _MESSAGES[err["type"]]
        if err["type"] not in ("missing", "extra_forbidden"):
            msg += f" (got {_KIND.get(type(err['input']), type(err['input']).__name__)})"
    else:
        msg = err["msg"].removeprefix("Value error, ")
    field = field_path(path) or "(top level)"
    # Missing fields have no line of their own: point at the nearest enclosing one.
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return f"{field}: {msg} (line {lines[path[:n]]})"
    return f"{field}: {msg}"
