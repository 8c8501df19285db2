"""Deterministic answers of the simulated backend.

Contract: ``answer_for(model, prompt)`` is what the backend answers for that model and prompt,
always, in every mode: ``f"{model}:" + sha256(utf8(model) + b"\\x00" + utf8(prompt)).hexdigest()[:24]``.
Strings are encoded as UTF-8 exactly as received; lone surrogates (possible from JSON ``\\ud800``
escapes) are encoded with "surrogatepass" instead of failing. ``answer_digest`` is the part after
``f"{model}:"``.
"""

import hashlib


def answer_digest(model: str, prompt: str) -> str:
    """The 24 hex digits that follow ``f"{model}:"`` in the answer."""
    return hashlib.sha256(
        model.encode("utf-8", "surrogatepass") + b"\x00" + prompt.encode("utf-8", "surrogatepass")
    ).hexdigest()[:24]


def answer_for(model: str, prompt: str) -> str:
    """Return the simulated backend's answer for ``prompt`` sent to ``model``."""
    return f"{model}:{answer_digest(model, prompt)}"
