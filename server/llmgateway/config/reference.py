"""The configuration reference, generated from the schema itself: a JSON Schema that editors can
validate a gateway.yaml with, and a Markdown page with every field's path, type, default and
description (`make config-reference`; a test keeps both current).

Descriptions come from where the schema documents itself: each section's docstring, and the
comments written above a field (or after it on its line) in the config modules. Pydantic reads
docstrings but not comments, so the comments are read here with the standard library's tokenizer;
they stay comments in the code, where the people changing a field read them.
"""

from __future__ import annotations

import inspect
import io
import json
import textwrap
import tokenize
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from llmgateway.config.gateway import GatewayConfig

SCHEMA_ID = "https://github.com/llmgateway/llmgateway/docs/config.schema.json"


def field_comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment in the source of `model` and the settings classes it inherits from:
    the comment lines right above the field, then a comment at the end of its own line."""
    comments: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls.__module__.startswith("llmgateway."):
            comments.update(_own_field_comments(cls))
    return comments


def _own_field_comments(model: type[BaseModel]) -> dict[str, str]:
    lines, _ = inspect.getsourcelines(model)
    source = textwrap.dedent("".join(lines))
    whole_line: dict[int, str] = {}
    trailing: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            text = token.string.lstrip("#").strip()
            row = token.start[0]
            if token.line.strip().startswith("#"):
                whole_line[row] = text
            else:
                trailing[row] = text
    comments: dict[str, str] = {}
    body = source.splitlines()
    for index, line in enumerate(body, start=1):
        name = line.strip().split(":", 1)[0]
        if not line.startswith("    ") or line.startswith("     ") or name not in model.model_fields:
            continue
        above: list[str] = []
        row = index - 1
        while row in whole_line:
            above.insert(0, whole_line[row])
            row -= 1
        text = " ".join(above + ([trailing[index]] if index in trailing else []))
        if text and not text.startswith(("fmt:", "noqa", "type:")):
            comments[name] = text
    return comments


def _description(model: type[BaseModel], name: str, info: FieldInfo) -> str:
    """The field's own description, else its comment, else (for a section) the first sentence of
    the section's docstring."""
    text = info.description or field_comments(model).get(name, "")
    nested = _nested_model(info.annotation)
    if not text and nested is not None:
        doc = " ".join((inspect.getdoc(nested[0]) or "").split())
        text = doc.split(". ")[0].rstrip(".") + "." if doc else ""
    return text


def _type_name(annotation: Any) -> str:
    """A reader's spelling of a field's type: `int`, `list[string]`, `"json" | "text"`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin in (list, tuple, set, frozenset):
        inner = ", ".join(_type_name(arg) for arg in args if arg is not Ellipsis)
        return f"list[{inner}]"
    if origin is dict:
        return f"map[{_type_name(args[0])}, {_type_name(args[1])}]"
    if annotation is type(None):
        return "null"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation)).replace("SecretStr", "secret string")


def _constraints(info: FieldInfo) -> str:
    found: list[str] = []
    for item in info.metadata:
        if isinstance(item, annotated_types.Gt):
            found.append(f"> {item.gt}")
        elif isinstance(item, annotated_types.Ge):
            found.append(f"≥ {item.ge}")
        elif isinstance(item, annotated_types.Lt):
            found.append(f"< {item.lt}")
        elif isinstance(item, annotated_types.Le):
            found.append(f"≤ {item.le}")
        elif isinstance(item, annotated_types.MinLen) and item.min_length:
            found.append(f"at least {item.min_length} item(s)")
    return ", ".join(found)


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
    elif info.default is PydanticUndefined:
        return "required"
    else:
        value = info.default
    if isinstance(value, BaseModel):
        return "(see below)"
    return f"`{json.dumps(value, default=str)}`"


def _nested_model(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The settings class a field holds (and whether as a list of them), if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _nested_model(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if origin in (list, tuple):
        found = _nested_model(typing.get_args(annotation)[0])
        return (found[0], True) if found else None
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _nested_model(arg)
            if found:
                return found
    return None


@dataclass(frozen=True)
class Section:
    """One settings class as it appears in the file: its path (`server.tls`) and its fields."""

    path: str
    model: type[BaseModel]


def sections(model: type[BaseModel] = GatewayConfig, path: str = "") -> Iterator[Section]:
    """Every section, depth first, in the order the fields are declared."""
    yield Section(path, model)
    for name, info in model.model_fields.items():
        nested = _nested_model(info.annotation)
        if nested is not None:
            inner, is_list = nested
            yield from sections(inner, f"{path}.{name}".lstrip(".") + ("[]" if is_list else ""))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown() -> str:
    """docs/configuration.md."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the schema (server/llmgateway/config/) by `make config-reference`; do not edit.",
        "The same schema as JSON Schema, for editors: [config.schema.json](config.schema.json) (add",
        "`# yaml-language-server: $schema=<path or URL of config.schema.json>` to the top of a gateway.yaml).",
        "Unknown keys are errors; `${VAR}` and `${VAR:-default}` read the environment. A `[]` in a path",
        "is a list of such objects.",
        "",
    ]
    for section in sections():
        title = section.path or "(top level)"
        out += [f"## `{title}`", ""]
        doc = inspect.getdoc(section.model)
        if doc and section.model is not GatewayConfig:
            out += [" ".join(doc.split()), ""]
        out += ["| field | type | default | description |", "| --- | --- | --- | --- |"]
        for name, info in section.model.model_fields.items():
            description = _description(section.model, name, info)
            limits = _constraints(info)
            if limits:
                description = f"{description} ({limits})" if description else f"({limits})"
            kind = _type_name(info.annotation)
            out.append(f"| `{name}` | {_cell(kind)} | {_cell(_default(info))} | {_cell(description)} |")
        out.append("")
    return "\n".join(out)


def json_schema() -> dict[str, Any]:
    """docs/config.schema.json: pydantic's schema of GatewayConfig, with each field's description."""
    schema = GatewayConfig.model_json_schema(mode="validation")
    definitions = schema.get("$defs", {})
    for section in sections():
        target = schema if section.model is GatewayConfig else definitions.get(section.model.__name__)
        if target is None:
            continue
        for name, info in section.model.model_fields.items():
            description = _description(section.model, name, info)
            if description and name in target.get("properties", {}):
                target["properties"][name].setdefault("description", description)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def write(root: Path) -> list[str]:
    """Write the generated files under `root`; the paths that changed."""
    changed = []
    for relative, text in render().items():
        target = root / relative
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(relative)
    return changed


def main() -> None:
    changed = write(Path.cwd())
    print("\n".join(f"wrote {path}" for path in changed) or "config reference is current")


def render() -> dict[str, str]:
    """The generated files by path, relative to the repository root."""
    return {
        "docs/config.schema.json": json.dumps(json_schema(), indent=2, sort_keys=True) + "\n",
        "docs/configuration.md": markdown(),
    }


if __name__ == "__main__":
    main()
