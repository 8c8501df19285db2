"""Deterministic answers of the simulated backend.

Contract: ``answer_for(model, prompt)`` is what the backend answers for that model and prompt,
always, in every mode: ``f"{model}:" + sha256(utf8(model) + b"\\x00" + utf8(prompt)).hexdigest()[:24]``.
Strings are encoded as UTF-8 exactly as received; lone surrogates (possible from JSON ``\\ud800``
escapes) are encoded with "surrogatepass" instead of failing. ``answer_digest`` is the part after
``f"{model}:"``.

``usage_for(model, prompt, output_tokens=(16, 16)) -> (P, C)``: the token counts every successful
answer reports (``"usage": {"prompt_tokens": P, "completion_tokens": C, "total_tokens": P + C}``):
``P = max(1, ceil(len(utf8(prompt)) / 4))``; ``C = N`` when the prompt contains ``[out=N]`` (the
first such marker), else ``lo + int.from_bytes(sha256(utf8(model) + b"\x00" + utf8(prompt))[:4],
"big") % (hi - lo + 1)`` for the model's ``output_tokens = (lo, hi)``.
"""

import hashlib
import re


def answer_digest(model: str, prompt: str) -> str:
    """The 24 hex digits that follow ``f"{model}:"`` in the answer."""
    return hashlib.sha256(
        model.encode("utf-8", "surrogatepass") + b"\x00" + prompt.encode("utf-8", "surrogatepass")
    ).hexdigest()[:24]


def answer_for(model: str, prompt: str) -> str:
    """Return the simulated backend's answer for ``prompt`` sent to ``model``."""
    return f"{model}:{answer_digest(model, prompt)}"


OUT_MARKER = re.compile(r"\[out=(\d+)\]")
DEFAULT_OUTPUT_TOKENS = (16, 16)


def prompt_tokens(prompt: str) -> int:
    """``ceil(len(utf8(prompt)) / 4)``, at least 1 (lone surrogates: "surrogatepass")."""
    return max(1, -(-len(prompt.encode("utf-8", "surrogatepass")) // 4))


def completion_tokens(model: str, prompt: str, output_tokens=DEFAULT_OUTPUT_TOKENS,
                      digest: str | None = None) -> int:
    """N when the prompt holds the marker ``[out=N]`` (the first one), else
    ``lo + int.from_bytes(sha256(utf8(model) + b"\\x00" + utf8(prompt))[:4], "big") % (hi - lo + 1)``
    for ``output_tokens = (lo, hi)``. ``digest``: ``answer_digest(model, prompt)`` if known."""
    if "[out=" in prompt:
        m = OUT_MARKER.search(prompt)
        if m:
            return int(m.group(1))
    lo, hi = output_tokens
    if lo == hi:
        return lo
    digest = digest or answer_digest(model, prompt)
    return lo + int(digest[:8], 16) % (hi - lo + 1)


def usage_for(model: str, prompt: str, output_tokens=DEFAULT_OUTPUT_TOKENS) -> tuple[int, int]:
    """(prompt_tokens, completion_tokens) the backend reports for ``prompt`` sent to ``model``
    whose ``output_tokens`` range is ``(lo, hi)`` (default 16..16)."""
    return prompt_tokens(prompt), completion_tokens(model, prompt, output_tokens)


def usage_dict(p: int, c: int) -> dict:
    """The ``usage`` object of an answer."""
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
