"""Forwarded calls: files, batches, images, audio and raw passthrough, sent same-vendor with the
gateway's keys (no translation), the answer streamed back; see ``service.py``."""
