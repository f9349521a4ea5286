"""Configuration: ``BifrostSettings`` (env vars), Bifrost's config.json loading, and the messages
that name a bad field, its file and the fix. Imports nothing of the gateway but ``errors`` and ``_json``.
"""
