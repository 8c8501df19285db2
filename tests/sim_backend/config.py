"""Settings of the simulated backend: CLI flags, the models file, runtime updates.

Contracts:
- ``build_parser()`` defines every CLI flag; ``from_args(ns)`` turns parsed flags into
  ``(Settings, Wire)`` and raises ValueError on bad values.
- ``Wire`` (URL paths and JSON field names) is fixed for the life of the process.
- ``Settings`` is what GET /admin/config shows (``snapshot()``) and what POST /admin/config
  changes (``updated(body)``: a partial, merged update that returns a NEW Settings or raises
  ValueError, leaving the old one untouched).
- Models file (``--models FILE``, or inline JSON when the value starts with ``{`` or ``[``)::

      {"default": {"median": 5, "sigma": 0.5, "rpm": null, "burst": null},
       "models": ["a", "b"]}                       # names only: each takes "default"
      {"models": {"a": {"median": 2, "faults": {"5xx": 0.1}}, "b": {}}}
      ["a", "b"]                                    # same as {"models": [...]}

  A model entry has ``median`` (seconds, before time scaling), ``sigma`` (of the lognormal),
  ``rpm`` and ``burst`` (provider quota; null = the global --quota-rpm/--quota-burst; rpm <= 0
  = unlimited) and ``faults`` (per-kind probabilities overriding the global ones; in an update,
  ``"faults": null`` forgets all of a model's overrides and ``{"5xx": null}`` forgets one).
  Capacity and tokens (null = the global setting of the same name; see ``Settings``): ``slots``
  (int >= 1; 0 = unlimited even when the global ``slots`` is set), ``queue_limit`` (int >= 0),
  ``queue_full_status`` (503 or 429), ``load_latency`` (>= 0), ``cancel_on_disconnect`` (bool),
  ``output_tokens`` ([min, max] completion tokens), ``tpm`` and ``tpm_burst`` (token quota; null =
  the global --quota-tpm/--quota-tpm-burst; tpm <= 0 = unlimited).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import NamedTuple

FAULT_KINDS = ("5xx", "429", "garbage", "drop", "hang", "reuse_reset")
# Kinds drawn by Simulator.roll; "reuse_reset" is a per-connection fault, rolled on its own.
ROLLED_KINDS = ("5xx", "429", "garbage", "drop", "hang")
BATCH_FAULT_SCOPES = ("item", "request")
QUEUE_FULL_STATUSES = (503, 429)
BUILTIN_MEDIANS = (1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 20.0)  # m0..m9, seconds


@dataclass
class ModelSpec:
    """One model: lognormal latency (median seconds, sigma), optional quota and fault overrides."""

    median: float = 5.0
    sigma: float = 0.5
    rpm: float | None = None
    burst: float | None = None
    faults: dict[str, float] = field(default_factory=dict)
    # None = the global Settings value of the same name (tpm/tpm_burst: quota_tpm/quota_tpm_burst)
    slots: int | None = None
    queue_limit: int | None = None
    queue_full_status: int | None = None
    load_latency: float | None = None
    cancel_on_disconnect: bool | None = None
    output_tokens: list[int] | None = None
    tpm: float | None = None
    tpm_burst: float | None = None


class Capacity(NamedTuple):
    """Service capacity in force for one model (Settings.capacity)."""

    slots: int | None  # None = unlimited
    queue_limit: int | None  # None = unbounded
    queue_full_status: int
    load_latency: float
    cancel_on_disconnect: bool


@dataclass(frozen=True)
class Wire:
    """URL paths and JSON field names of the backend API."""

    single_path: str = "/single"
    batch_path: str = "/batch"
    model_field: str = "model"
    prompt_field: str = "prompt"
    answer_field: str = "answer"
    requests_field: str = "requests"
    results_field: str = "results"
    error_field: str = "error"
    usage_field: str = "usage"


@dataclass
class Settings:
    """Runtime-changeable behaviour (everything GET/POST /admin/config shows)."""

    time_scale: float = 1.0
    min_latency: float = 1.0
    max_latency: float = 120.0
    seed: int | None = None
    faults: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in FAULT_KINDS})
    retry_after: int = 1
    hang_seconds: float = 3600.0
    batch_fault_scope: str = "item"
    quota_rpm: float | None = None
    quota_burst: float | None = None
    quota_tpm: float | None = None
    quota_tpm_burst: float | None = None
    slots: int | None = None
    queue_limit: int | None = None
    queue_full_status: int = 503
    load_latency: float = 0.0
    cancel_on_disconnect: bool = False
    output_tokens: list[int] = field(default_factory=lambda: [16, 16])
    models: dict[str, ModelSpec] = field(default_factory=dict)

    def snapshot(self) -> dict:
        """JSON-ready copy of the settings."""
        return asdict(self)

    def model_faults(self, model: str) -> dict[str, float]:
        """Fault probabilities in force for ``model`` (its overrides, else the global ones)."""
        return {**self.faults, **self.models[model].faults}

    def quota(self, model: str) -> tuple[float, float] | None:
        """(requests per minute, burst) enforced for ``model``, or None when unlimited."""
        spec = self.models[model]
        rpm = spec.rpm if spec.rpm is not None else self.quota_rpm
        if rpm is None or rpm <= 0:
            return None
        burst = spec.burst if spec.burst is not None else self.quota_burst
        return rpm, burst if burst is not None and burst > 0 else max(1.0, math.ceil(rpm / 60))

    def tpm_quota(self, model: str) -> tuple[float, float] | None:
        """(tokens per minute, bucket size) enforced for ``model``, or None when unlimited."""
        spec = self.models[model]
        tpm = spec.tpm if spec.tpm is not None else self.quota_tpm
        if tpm is None or tpm <= 0:
            return None
        burst = spec.tpm_burst if spec.tpm_burst is not None else self.quota_tpm_burst
        return tpm, burst if burst is not None and burst > 0 else max(1.0, tpm / 6)

    def capacity(self, model: str) -> Capacity:
        """Slots, queue and load settings in force for ``model`` (its own, else the global)."""
        spec = self.models[model]

        def pick(name):
            own = getattr(spec, name)
            return own if own is not None else getattr(self, name)

        return Capacity(pick("slots") or None, pick("queue_limit"), pick("queue_full_status"),
                        pick("load_latency"), pick("cancel_on_disconnect"))

    def output_tokens_of(self, model: str) -> tuple[int, int]:
        """[min, max] completion tokens of ``model``."""
        ot = self.models[model].output_tokens or self.output_tokens
        return ot[0], ot[1]

    def updated(self, body: dict) -> Settings:
        """Settings with ``body`` merged in: ``faults`` merge by kind, ``models`` by name and field
        (a new name adds a model with the default spec). Raises ValueError on bad input."""
        if not isinstance(body, dict):
            raise ValueError("config body must be a JSON object")
        new = copy.deepcopy(self)
        for key, value in body.items():
            if key == "faults":
                new.faults.update(_faults(value))
            elif key == "models":
                new.models = _models_update(new.models, value)
            elif key in _SCALARS:
                setattr(new, key, _SCALARS[key](value, key))
            else:
                raise ValueError(f"unknown config key {key!r}")
        _check(new)
        return new


def _num(lo: float, hi: float = math.inf, *, optional: bool = False, kind=float):
    def conv(value, name):
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name} must be a number")
        if kind is int and value != int(value):
            raise ValueError(f"{name} must be an integer")
        if not lo <= value <= hi:
            raise ValueError(f"{name} must be in [{lo}, {hi}]")
        return kind(value)

    return conv


def _bool(value, name):
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value


def _optional(conv):
    return lambda value, name: None if value is None else conv(value, name)


def _queue_full_status(value, name):
    if isinstance(value, bool) or value not in QUEUE_FULL_STATUSES:
        raise ValueError(f"{name} must be one of {QUEUE_FULL_STATUSES}")
    return int(value)


def _token_range(value, name):
    if (not isinstance(value, list) or len(value) != 2
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value)
            or value[0] > value[1]):
        raise ValueError(f"{name} must be [min, max], integers with 0 <= min <= max")
    return list(value)


def _scope(value, name):
    if value not in BATCH_FAULT_SCOPES:
        raise ValueError(f"{name} must be one of {BATCH_FAULT_SCOPES}")
    return value


_SCALARS = {
    "time_scale": _num(0.0),
    "min_latency": _num(0.0),
    "max_latency": _num(0.0),
    "seed": _num(-(2**63), 2**63, optional=True, kind=int),
    "retry_after": _num(0, 86400, kind=int),
    "hang_seconds": _num(0.0),
    "batch_fault_scope": _scope,
    "quota_rpm": _num(-math.inf, optional=True),
    "quota_burst": _num(0.0, optional=True),
    "quota_tpm": _num(-math.inf, optional=True),
    "quota_tpm_burst": _num(0.0, optional=True),
    "slots": _num(1, kind=int, optional=True),
    "queue_limit": _num(0, kind=int, optional=True),
    "queue_full_status": _queue_full_status,
    "load_latency": _num(0.0),
    "cancel_on_disconnect": _bool,
    "output_tokens": _token_range,
}

# Per-model fields beyond median/sigma/rpm/burst/faults; None = follow the global setting.
_MODEL_FIELDS = {
    "slots": _num(0, kind=int, optional=True),
    "queue_limit": _num(0, kind=int, optional=True),
    "queue_full_status": _optional(_queue_full_status),
    "load_latency": _num(0.0, optional=True),
    "cancel_on_disconnect": _optional(_bool),
    "output_tokens": _optional(_token_range),
    "tpm": _num(-math.inf, optional=True),
    "tpm_burst": _num(-math.inf, optional=True),
}


def _faults(value) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ValueError("faults must be an object of kind -> probability")
    bad = set(value) - set(FAULT_KINDS)
    if bad:
        raise ValueError(f"unknown fault kinds {sorted(bad)}; known: {FAULT_KINDS}")
    return {k: _num(0.0, 1.0)(v, f"faults.{k}") for k, v in value.items()}


def _model_spec(value, base: ModelSpec, name: str) -> ModelSpec:
    if not isinstance(value, dict):
        raise ValueError(f"model {name!r} must be an object")
    spec = copy.deepcopy(base)
    for key, v in value.items():
        if key == "faults" and v is None:  # forget every override: follow the global faults
            spec.faults = {}
        elif key == "faults":
            spec.faults.update(_faults({k: p for k, p in v.items() if p is not None}
                                       if isinstance(v, dict) else v))
            for k in [k for k, p in v.items() if p is None]:
                spec.faults.pop(k, None)  # null forgets one override
        elif key in ("median", "sigma"):
            setattr(spec, key, _num(0.0)(v, f"{name}.{key}"))
        elif key in ("rpm", "burst"):
            setattr(spec, key, _num(-math.inf, optional=True)(v, f"{name}.{key}"))
        elif key in _MODEL_FIELDS:
            setattr(spec, key, _MODEL_FIELDS[key](v, f"{name}.{key}"))
        else:
            raise ValueError(f"unknown field {key!r} in model {name!r}")
    return spec


def _models_update(models: dict[str, ModelSpec], value) -> dict[str, ModelSpec]:
    if isinstance(value, list):
        value = {name: {} for name in value}
    if not isinstance(value, dict):
        raise ValueError("models must be a list of names or an object name -> spec")
    out = dict(models)
    for name, spec in value.items():
        out[name] = _model_spec(spec, out.get(name, ModelSpec()), name)
    return out


def _check(s: Settings) -> None:
    if s.min_latency > s.max_latency:
        raise ValueError("min_latency must be <= max_latency")
    if not s.models:
        raise ValueError("at least one model is needed")
    for name in s.models:
        if not isinstance(name, str) or not name:
            raise ValueError("model names must be non-empty strings")


def builtin_models() -> dict[str, ModelSpec]:
    """The 10 default models m0..m9 (medians 1.5 s .. 20 s, sigma 0.6)."""
    return {f"m{i}": ModelSpec(median=m, sigma=0.6) for i, m in enumerate(BUILTIN_MEDIANS)}


def load_models(arg: str) -> dict[str, ModelSpec]:
    """Models from a file path, or from inline JSON when ``arg`` starts with ``{`` or ``[``."""
    text = arg if arg.lstrip()[:1] in ("{", "[") else Path(arg).read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"models config is not valid JSON: {exc}") from None
    if isinstance(doc, list):
        doc = {"models": doc}
    if not isinstance(doc, dict) or "models" not in doc:
        raise ValueError('models config must be a list of names or an object with "models"')
    bad = set(doc) - {"default", "models"}
    if bad:
        raise ValueError(f"unknown keys in models config: {sorted(bad)}")
    default = _model_spec(doc.get("default", {}), ModelSpec(), "default")
    names = doc["models"]
    if isinstance(names, list):
        names = {name: {} for name in names}
    if not isinstance(names, dict):
        raise ValueError("models must be a list of names or an object name -> spec")
    return {name: _model_spec(spec, default, name) for name, spec in names.items()}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m tests.sim_backend.server``."""
    p = argparse.ArgumentParser(prog="sim_backend", description="Simulated LLM Models Backend.")
    a = p.add_argument
    a("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    a("--port", type=int, default=0, help="listen port; 0 = pick a free one (default)")
    a("--backlog", type=int, default=4096, help="listen backlog (default 4096)")
    a("--instant", action="store_true", help="lean asyncio server: immediate answers, no faults")
    a("--models", help="models config: JSON file, or inline JSON; default m0..m9")
    a("--time-scale", type=float, default=1.0, help="multiplies every latency (default 1.0)")
    a("--min-latency", type=float, default=1.0, help="latency clip, seconds before scaling")
    a("--max-latency", type=float, default=120.0, help="latency clip, seconds before scaling")
    a("--seed", type=int, help="seed of the random generator (latencies, faults)")
    for kind in FAULT_KINDS:
        a(f"--fault-{kind.replace('_', '-')}", dest=f"fault_{kind}", type=float, default=0.0,
          metavar="P", help=f"probability of {kind}")
    a("--retry-after", type=int, default=1, help="Retry-After seconds of the 429 fault")
    a("--hang-seconds", type=float, default=3600.0, help="hang length, NOT time-scaled")
    a("--batch-fault-scope", choices=BATCH_FAULT_SCOPES, default="item",
      help="item: faults per batch item; request: one roll for the whole batch")
    a("--quota-rpm", type=float, help="provider quota per model (requests/minute) by default")
    a("--quota-burst", type=float, help="token bucket size by default (default rpm/60, >= 1)")
    a("--quota-tpm", type=float, help="token quota per model (prompt + completion tokens/minute)")
    a("--quota-tpm-burst", type=float, help="token bucket size by default (default tpm/6, >= 1)")
    a("--slots", type=int, help="calls of a model in service at once by default (default: no limit)")
    a("--queue-limit", type=int, help="calls of a model waiting for a slot at most (default: no limit)")
    a("--queue-full-status", type=int, choices=QUEUE_FULL_STATUSES, default=503,
      help="status of a call refused because its model's queue is full")
    a("--load-latency", type=float, default=0.0,
      help="service time x (1 + L * (busy - 1) / slots) with slots set (default 0)")
    a("--cancel-on-disconnect", action="store_true",
      help="queued calls whose client left are dropped (default: they keep their place)")
    a("--output-tokens", type=int, nargs=2, default=[16, 16], metavar=("MIN", "MAX"),
      help="completion tokens of an answer, drawn from the prompt's hash (default 16 16)")
    a("--arrival-log", help="write arrival records to this JSON Lines file")
    a("--arrival-memory", type=int, default=1_000_000,
      help="arrival records kept in memory for /admin/arrivals (about 200 B each)")
    a("--keep-alive-timeout", type=float, default=5.0, help="idle keep-alive seconds")
    a("--graceful-timeout", type=float, default=2.0, help="seconds to finish requests at exit")
    a("--no-uvloop", action="store_true", help="use the stdlib event loop")
    for f in Wire.__dataclass_fields__.values():
        a("--" + f.name.replace("_", "-"), default=f.default, help=f"default {f.default!r}")
    return p


def from_args(ns: argparse.Namespace) -> tuple[Settings, Wire]:
    """Settings and Wire from parsed flags; ValueError when something is invalid."""
    wire = Wire(**{name: getattr(ns, name) for name in Wire.__dataclass_fields__})
    for path in (wire.single_path, wire.batch_path):
        if not path.startswith("/"):
            raise ValueError(f"paths must start with '/': {path!r}")
    models = load_models(ns.models) if ns.models else builtin_models()
    base = Settings(models=models)
    body = {
        "time_scale": ns.time_scale, "min_latency": ns.min_latency, "max_latency": ns.max_latency,
        "seed": ns.seed, "retry_after": ns.retry_after, "hang_seconds": ns.hang_seconds,
        "batch_fault_scope": ns.batch_fault_scope, "quota_rpm": ns.quota_rpm,
        "quota_burst": ns.quota_burst, "quota_tpm": ns.quota_tpm,
        "quota_tpm_burst": ns.quota_tpm_burst, "slots": ns.slots, "queue_limit": ns.queue_limit,
        "queue_full_status": ns.queue_full_status, "load_latency": ns.load_latency,
        "cancel_on_disconnect": ns.cancel_on_disconnect, "output_tokens": list(ns.output_tokens),
        "faults": {k: getattr(ns, "fault_" + k) for k in FAULT_KINDS},
    }
    return base.updated(body), wire


__all__ = ["FAULT_KINDS", "ROLLED_KINDS", "Capacity", "ModelSpec", "Settings", "Wire", "build_parser", "from_args",
           "load_models", "builtin_models"]
