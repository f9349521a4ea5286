"""The ASGI face: ``bifrost_app()`` (Starlette routes from the dialects) and ``BifrostMiddleware``.

The only package that imports Starlette; it may import everything below it in the flow.
"""
