// The ETA model of `llmlb status`: how long the waiting tasks take at the current limits.
//
// A model's capacity (tasks/s) is its rate, rpm / 60 x the current effective rate factor,
// capped by max_inflight / mean latency when the mean latency of its recent ok calls is known
// (Little's law: no more than max_inflight calls can be open at once). Only enabled models
// count. Tasks pinned to a model are served by that model only; unpinned tasks by any enabled
// model. Assuming every model stays busy, the waiting work drains after
//     max( max over models of pinned_m / capacity_m, (unpinned + sum pinned_m) / sum capacity_m )
// seconds: each model must get through its own pinned tasks, and all models together must get
// through everything. Tasks in flight, retry delays, 429 cooldowns and backend errors are not
// modelled; tasks pinned to disabled or unconfigured models never drain and are reported apart.
#pragma once

#include <vector>

#include "llmlb/status/data.hpp"

namespace llmlb::status {

/// A model's capacity in tasks per second (0 when it is disabled or not configured).
double model_capacity(const ModelStatus& model);

/// The ETA of `backlog` given `models` (pure). Never divides by zero: no enabled model gives
/// EtaState::no_enabled_model, enabled models with zero capacity (or only stuck work) give
/// EtaState::no_capacity, nothing waiting gives EtaState::empty. When every model that could take
/// the waiting work is in a 429 cooldown: EtaState::cooldown, with no seconds and the time until
/// the first cooldown ends; a pinned model's cooldown delays its own drain time.
Eta compute_eta(const Backlog& backlog, const std::vector<ModelStatus>& models);

}  // namespace llmlb::status
