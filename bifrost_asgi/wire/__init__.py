"""Vendor wire formats shared by an inbound dialect and an outbound provider of the same vendor.

Pure codecs and JSON shapes only: no neutral types, no I/O; imports nothing of ours but the
foundation. ``eventstream`` is AWS's binary ``application/vnd.amazon.eventstream`` framing (encode
and decode); ``converse`` the Bedrock Converse API's names, paths and frames.
"""
