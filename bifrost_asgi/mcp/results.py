"""MCP tool results -> the text a model reads. Pure."""

from __future__ import annotations

from mcp.types import CallToolResult, TextContent

from .. import _json


def result_text(result: CallToolResult) -> str:
    """Text blocks joined; other blocks (images, resources) as their JSON; else the structured content."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        else:
            parts.append(_json.dumps_str(block.model_dump(by_alias=True, mode="json", exclude_none=True)))
    if parts:
        return "\n".join(parts)
    if result.structured_content is not None:
        return _json.dumps_str(result.structured_content)
    return ""
