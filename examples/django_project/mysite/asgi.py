"""ASGI entry point: Django serves everything except ``/llm/...``, which the gateway answers.

Run (from examples/django_project):  uvicorn mysite.asgi:application --port 8000
Point the OpenAI SDK at http://127.0.0.1:8000/llm/openai/v1 (or /llm/v1 with "provider/model").
Configure with BIFROST_CONFIG=/path/to/config.json; without it the offline demo config is used.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from bifrost_asgi import BifrostMiddleware
from bifrost_asgi.config.loading import demo_settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")

django_app = get_asgi_application()
if os.environ.get("BIFROST_CONFIG"):
    application = BifrostMiddleware(django_app, prefix="/llm")
else:
    application = BifrostMiddleware(django_app, prefix="/llm", settings=demo_settings())
