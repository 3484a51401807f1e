"""The instrumented library and its supported versions (mirrors the ``instruments`` extra)."""

_instruments = ("litellm >= 1.102.4, != 1.82.7, != 1.82.8, < 1.111",)
