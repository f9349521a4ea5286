"""Cohere vocabulary shared by the Cohere provider and Cohere models on Bedrock (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Gemini-style task types (the neutral vocabulary) -> Cohere input types.
INPUT_TYPES: Mapping[str, str] = MappingProxyType(
    {
        "RETRIEVAL_QUERY": "search_query",
        "RETRIEVAL_DOCUMENT": "search_document",
        "QUESTION_ANSWERING": "search_query",
        "FACT_VERIFICATION": "search_query",
        "CLASSIFICATION": "classification",
        "CLUSTERING": "clustering",
        "SEMANTIC_SIMILARITY": "clustering",
    }
)


def input_type(task_type: str | None) -> str:
    """Cohere's ``input_type`` for a task type (its own names pass through); search_document by default."""
    if not task_type:
        return "search_document"
    if task_type in ("search_query", "search_document", "classification", "clustering", "image"):
        return task_type
    return INPUT_TYPES.get(task_type.upper(), "search_document")
