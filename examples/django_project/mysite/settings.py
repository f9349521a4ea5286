"""Minimal Django settings for the example (no database needed)."""

from __future__ import annotations

SECRET_KEY = "example-only-not-secret"  # an example project: nothing to protect
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, object] = {}
USE_TZ = True
