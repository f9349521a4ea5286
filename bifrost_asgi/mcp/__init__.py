"""MCP: tools of MCP servers, offered to models in every dialect, executed on request or in an agent
loop, and served to MCP hosts at ``/mcp``.

Seams into the flow (nothing else of the gateway knows about MCP):

* ``inject``: tools added to the neutral request before routing;
* ``agent``: the agent loop around the router (plain and streamed);
* ``server``: the ``/mcp`` endpoint, mounted by ``asgi/``.

``config`` is imported by the settings and stays light: the ``mcp`` SDK is imported only by the
modules that talk MCP (``connection``, ``server``).
"""
