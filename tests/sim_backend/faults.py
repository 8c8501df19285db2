"""Decisions of the simulated backend: provider quota, fault roll, latency.

Contract of ``Simulator`` (one per process, used from the event-loop thread only):
- ``known(model)``: is the model configured.
- ``admit(model)``: takes one token of the model's provider-quota bucket; returns None when
  admitted (or no quota), else the seconds until a token will be available.
- ``admit_tokens(model, cost)``: charges ``cost`` tokens (prompt + completion) to the model's
  TPM bucket; None when admitted (or no TPM quota), else the seconds until enough tokens will be
  there. A cost above the bucket size is admitted only when the bucket is full (it goes negative).
- ``pool(model)``: the model's capacity.Pool (service slots and FIFO queue), kept across updates.
- ``load()``: ``{model: {"busy", "queued", "slots"}}`` for every configured model.
- ``reuse_reset(model, nth)``: whether the nth request on its connection (never the first) is
  reset at once, unanswered, with the model's ``reuse_reset`` probability.
- ``roll(model)``: "ok" or one of ROLLED_KINDS (every kind but reuse_reset), drawn with that model's probabilities (per-model
  overrides, else global; when they sum above 1 they are scaled to sum 1).
- ``latency(model)``: seconds to wait: median * exp(sigma * N(0,1)), clipped to
  [min_latency, max_latency], then multiplied by time_scale.
- ``choice(seq)``: a random element (garbage variant, 5xx status).
- ``update(body)``: applies a POST /admin/config body (see config.Settings.updated); reseeds
  when it has "seed"; refills/rebuilds the quota buckets when it touches quotas or models; lets
  waiters into freed slots when the slot counts grew.
All randomness comes from one random.Random seeded with Settings.seed, so a run is reproducible
for the same order of requests. Quotas use real time (time.monotonic), never time_scale.
"""

from __future__ import annotations

import math
import random
import time

from .capacity import Pool
from .config import ROLLED_KINDS, Settings


class TokenBucket:
    """Classic token bucket: ``rpm / 60`` tokens per second, at most ``burst`` tokens, starts full."""

    def __init__(self, rpm: float, burst: float, now: float):
        self.rate = rpm / 60.0
        self.capacity = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when granted, else the seconds until one will be there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def charge(self, now: float, cost: float) -> float:
        """Take ``cost`` tokens: 0.0 when granted, else the seconds until there are enough. A cost
        above the capacity is granted when the bucket is full (the bucket goes negative)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(cost, self.capacity)
        if self.tokens >= need:
            self.tokens -= cost
            return 0.0
        return (need - self.tokens) / self.rate


class Simulator:
    """See the module docstring."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.buckets: dict[str, TokenBucket | None] = {}
        self.tpm_buckets: dict[str, TokenBucket | None] = {}
        self.pools: dict[str, Pool] = {}

    def known(self, model: str) -> bool:
        return model in self.settings.models

    def admit(self, model: str) -> float | None:
        if model not in self.buckets:
            quota = self.settings.quota(model)
            self.buckets[model] = TokenBucket(*quota, time.monotonic()) if quota else None
        bucket = self.buckets[model]
        if bucket is None:
            return None
        wait = bucket.take(time.monotonic())
        return wait if wait > 0 else None

    def admit_tokens(self, model: str, cost: float) -> float | None:
        if model not in self.tpm_buckets:
            quota = self.settings.tpm_quota(model)
            self.tpm_buckets[model] = TokenBucket(*quota, time.monotonic()) if quota else None
        bucket = self.tpm_buckets[model]
        if bucket is None:
            return None
        wait = bucket.charge(time.monotonic(), cost)
        return wait if wait > 0 else None

    def pool(self, model: str) -> Pool:
        pool = self.pools.get(model)
        if pool is None:
            pool = self.pools[model] = Pool(lambda: self.settings.capacity(model).slots)
        return pool

    def load(self) -> dict:
        out = {}
        for model in self.settings.models:
            pool = self.pools.get(model)
            out[model] = {"busy": pool.busy if pool else 0, "queued": pool.queued if pool else 0,
                          "slots": self.settings.capacity(model).slots}
        return out

    def roll(self, model: str) -> str:
        probs = self.settings.model_faults(model)
        total = sum(probs[k] for k in ROLLED_KINDS)
        if total <= 0:
            return "ok"
        u = self.rng.random() * max(1.0, total)
        for kind in ROLLED_KINDS:
            u -= probs[kind]
            if u < 0:
                return kind
        return "ok"

    def reuse_reset(self, model: str, nth: int) -> bool:
        """Whether the ``nth`` request (1-based) on its connection is reset unanswered: never the
        first, the others with the model's ``reuse_reset`` probability (drawn only for them)."""
        p = self.settings.model_faults(model).get("reuse_reset", 0.0)
        return nth > 1 and p > 0 and self.rng.random() < p

    def latency(self, model: str) -> float:
        s, spec = self.settings, self.settings.models[model]
        raw = spec.median * math.exp(spec.sigma * self.rng.gauss(0.0, 1.0))
        return min(max(raw, s.min_latency), s.max_latency) * s.time_scale

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def update(self, body: dict) -> Settings:
        self.settings = self.settings.updated(body)
        if "seed" in body:
            self.rng = random.Random(self.settings.seed)
        if {"quota_rpm", "quota_burst", "models"} & set(body):
            self.buckets.clear()
        if {"quota_tpm", "quota_tpm_burst", "models"} & set(body):
            self.tpm_buckets.clear()
        for pool in self.pools.values():
            pool.wake()
        return self.settings
