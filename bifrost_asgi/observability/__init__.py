"""Observability: Prometheus metrics bound to an injected registry, and the one-line request log
with secret redaction. Imports only ``errors`` and ``_json``.
"""
