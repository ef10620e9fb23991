"""The official Mattermost API v4 reference, checking requests a test server sees.

Reads the OpenAPI YAML in ``/work/shared/reference/mattermost-api-v4`` (one file per
tag, paths spread over them, schemas in ``definitions.yaml``) and tells whether a
request's method, path, query parameters and body are defined there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

REFERENCE_DIR = Path(
    os.environ.get(
        "GRAPHBOT_MATTERMOST_REFERENCE", "/work/shared/reference/mattermost-api-v4"
    )
)
_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    """One method on one path of the reference."""

    method: str
    template: str
    pattern: re.Pattern[str]
    spec: dict[str, Any]

    @property
    def query_names(self) -> set[str]:
        parameters = self.spec.get("parameters", [])
        return {p["name"] for p in parameters if p.get("in") == "query"}

    def body_schema(self, content_type: str) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        media = content.get(content_type)
        return None if media is None else media.get("schema", {})

    @property
    def body_types(self) -> list[str]:
        return list(self.spec.get("requestBody", {}).get("content", {}))


class ApiReference:
    """Answers whether a request is one the reference defines."""

    def __init__(self, directory: Path = REFERENCE_DIR) -> None:
        paths: dict[str, Any] = {}
        self._components: dict[str, Any] = {}
        for file in sorted(directory.glob("*.yaml")):
            document = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
            if "components" in document:
                self._components = document["components"]
            paths.update({k: v for k, v in document.items() if k.startswith("/")})
        self.operations = [
            Operation(method, template, _template_pattern(template), spec)
            for template, methods in paths.items()
            for method, spec in methods.items()
            if method in _METHODS
        ]

    def find(self, method: str, path: str) -> list[Operation]:
        """Every operation whose method and path template match the request."""
        return [
            op
            for op in self.operations
            if op.method == method.lower() and op.pattern.fullmatch(path)
        ]

    def check(
        self,
        method: str,
        path: str,
        query: set[str],
        content_type: str,
        body: Any,
    ) -> list[str]:
        """Describe how the request departs from the reference (empty: it does not)."""
        operations = self.find(method, path)
        if not operations:
            return [f"{method} {path} is not in the Mattermost API reference"]
        problems: list[str] = []
        for op in operations:
            problems = self._check_operation(op, query, content_type, body)
            if not problems:
                return []
        return problems

    def _check_operation(
        self, op: Operation, query: set[str], content_type: str, body: Any
    ) -> list[str]:
        where = f"{op.method.upper()} {op.template}"
        problems = [
            f"{where}: query parameter {name!r} is not defined"
            for name in sorted(query - op.query_names)
        ]
        if not op.body_types:
            return problems
        schema = op.body_schema(content_type)
        if schema is None:
            return problems + [
                f"{where}: body type {content_type!r} is not one of {op.body_types}"
            ]
        return problems + [
            f"{where}: {problem}" for problem in self._check_value(schema, body, "body")
        ]

    def _check_value(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        schema = self.resolve(schema)
        kind = schema.get("type")
        if kind == "array":
            return self._check_array(schema, value, where)
        if kind == "object" or "properties" in schema:
            return self._check_object(schema, value, where)
        return []

    def _check_array(self, schema: dict[str, Any], value: Any, where: str) -> list[str]:
        if not isinstance(value, list):
            return [f"{where} must be an array"]
        problems = []
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{where} needs at least {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{where} allows at most {schema['maxItems']} items")
        return problems

    def _check_object(
        self, schema: dict[str, Any], value: Any, where: str
    ) -> list[str]:
        if not isinstance(value, dict):
            return [f"{where} must be an object"]
        properties = schema.get("properties", {})
        problems = [
            f"{where} lacks required field {name!r}"
            for name in schema.get("required", [])
            if name not in value
        ]
        if properties and not schema.get("additionalProperties"):
            problems += [
                f"{where} has field {name!r}, which the reference does not define"
                for name in value
                if name not in properties
            ]
        return problems

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow ``$ref`` and merge ``allOf`` so the schema can be read directly."""
        while "$ref" in schema:
            schema = self._component(schema["$ref"])
        if "allOf" in schema:
            merged: dict[str, Any] = {
                "type": "object",
                "properties": {},
                "required": [],
            }
            for part in schema["allOf"]:
                part = self.resolve(part)
                merged["properties"].update(part.get("properties", {}))
                merged["required"] += part.get("required", [])
            return merged
        return schema

    def _component(self, ref: str) -> dict[str, Any]:
        node: Any = self._components
        for key in ref.removeprefix("#/components/").split("/"):
            node = node[key]
        return node


def _template_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    )


@lru_cache(maxsize=1)
def load_reference() -> ApiReference:
    """The reference, read once per test session."""
    return ApiReference()
