#include "llmlb/work/dispatcher.hpp"

#include <fmt/format.h>
#include <algorithm>

#include "llmlb/backend/outcome.hpp"
#include "llmlb/work/backoff.hpp"

namespace llmlb::work {
namespace {

using std::chrono::duration;

// HTTP statuses that speak of the model or the credentials, not the task: 404 (unknown model),
// 401 and 403 (bad token).
bool is_model_level(long status) {
  return status == 404 || status == 401 || status == 403;
}

bool is_blank(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c) != 0; });
}

}  // namespace

Dispatcher::Dispatcher(const WorkOptions& options, Sink sink, Jitter jitter)
    : opt_(options), sink_(std::move(sink)), jitter_(std::move(jitter)) {}

std::string Dispatcher::url_for(const std::string& path) const {
  std::string base = opt_.backend_url;
  while (!base.empty() && base.back() == '/') {
    base.pop_back();
  }
  return base + path;
}

void Dispatcher::dispatch(std::vector<ClaimedTask> tasks, Clock::time_point claimed,
                          Clock::time_point now) {
  std::map<std::string, std::vector<ClaimedTask>> batches;
  for (auto& t : tasks) {
    if (is_blank(t.prompt)) {
      results_.push_back(
          TaskResult::rejected(std::move(t.lease), "prompt is empty or only whitespace; not sent"));
      continue;
    }
    if (t.prompt.size() > opt_.max_prompt_bytes) {
      results_.push_back(TaskResult::rejected(
          std::move(t.lease),
          fmt::format("prompt is {} bytes, over --max-prompt-bytes {}; not sent", t.prompt.size(),
                      opt_.max_prompt_bytes)));
      continue;
    }
    if (opt_.endpoint == Endpoint::single) {
      auto body = backend::encode_single(opt_.protocol, t.lease.model, t.prompt);
      if (!body) {
        results_.push_back(TaskResult::rejected(
            std::move(t.lease), "cannot encode prompt: " + body.error() + "; not sent"));
        continue;
      }
      std::vector<ClaimedTask> one;
      one.push_back(std::move(t));
      send(opt_.protocol.single_path, std::move(body).value(), std::move(one), claimed, now, false);
      continue;
    }
    auto& batch = batches[t.lease.model];
    batch.push_back(std::move(t));
    if (static_cast<int>(batch.size()) >= opt_.batch_size) {
      send_batch(batch, claimed, now);
      batch.clear();
    }
  }
  for (auto& [model, batch] : batches) {
    if (!batch.empty()) {
      send_batch(batch, claimed, now);
    }
  }
}

void Dispatcher::send_batch(std::vector<ClaimedTask>& batch, Clock::time_point claimed,
                            Clock::time_point now) {
  std::vector<backend::BatchItem> items;
  items.reserve(batch.size());
  for (const auto& t : batch) {
    items.push_back({t.lease.model, t.prompt});
  }
  auto body = backend::encode_batch(opt_.protocol, items);
  if (body) {
    send(opt_.protocol.batch_path, std::move(body).value(), std::move(batch), claimed, now, true);
    return;
  }
  // One bad prompt must not sink the others: send them one by one instead.
  for (auto& t : batch) {
    auto single = backend::encode_single(opt_.protocol, t.lease.model, t.prompt);
    if (!single) {
      results_.push_back(TaskResult::rejected(
          std::move(t.lease), "cannot encode prompt: " + single.error() + "; not sent"));
      continue;
    }
    std::vector<ClaimedTask> one;
    one.push_back(std::move(t));
    send(opt_.protocol.single_path, std::move(single).value(), std::move(one), claimed, now, false);
  }
}

void Dispatcher::send(std::string path, std::string body, std::vector<ClaimedTask> tasks,
                      Clock::time_point claimed, Clock::time_point now, bool batch) {
  const auto tag = next_tag_++;
  const double offset = duration<double, std::milli>(now - claimed).count();
  Call call;
  call.batch = batch;
  for (auto& t : tasks) {
    call.task_ids.push_back(t.lease.task_id);
    const auto id = t.lease.task_id;
    InFlight entry{std::move(t.lease), offset, tag, t.prompt.size()};
    if (auto old = inflight_.find(id); old != inflight_.end()) {
      // Claimed again while an older call for it is in flight: the new lease is the live one.
      // The old call keeps its lease aside, to record its outcome under the old token.
      if (auto c = calls_.find(old->second.tag); c != calls_.end()) {
        c->second.superseded.insert_or_assign(id, std::move(old->second));
      }
      old->second = std::move(entry);
    } else {
      inflight_.emplace(id, std::move(entry));
    }
  }
  calls_.emplace(tag, std::move(call));
  sink_(http::Request{tag, url_for(path), std::move(body), opt_.request_timeout});
}

void Dispatcher::on_response(const http::Response& resp) {
  auto it = calls_.find(resp.tag);
  if (it == calls_.end()) {
    return;
  }
  const Call call = std::move(it->second);
  calls_.erase(it);
  if (!resp.transport_ok && resp.connect_failed) {
    on_unreachable(resp, call);
    return;
  }
  if (resp.transport_ok && saw_unreachable_) {
    reached_after_outage_ = true;
    saw_unreachable_ = false;
  }
  std::vector<backend::Outcome> outcomes;
  if (call.batch) {
    outcomes = backend::classify_batch(opt_.protocol, resp, call.task_ids.size());
  } else {
    outcomes.push_back(backend::classify_single(opt_.protocol, resp));
  }
  if (resp.reset_after_send) {
    for (auto& o : outcomes) {
      if (o.kind == backend::OutcomeKind::transient && o.http_status == 0) {
        o.error_class = "reset_after_send";
      }
    }
  }
  for (std::size_t i = 0; i < call.task_ids.size(); ++i) {
    const auto id = call.task_ids[i];
    InFlight entry;
    if (auto s = call.superseded.find(id); s != call.superseded.end()) {
      entry = std::move(s->second);  // a later claim took the task back: the old lease
    } else if (auto f = inflight_.find(id); f != inflight_.end() && f->second.tag == resp.tag) {
      entry = std::move(f->second);
      inflight_.erase(f);
    } else {
      continue;
    }
    const auto& o = outcomes[std::min(i, outcomes.size() - 1)];
    Lease lease = std::move(entry.lease);
    CallFacts facts;
    facts.endpoint = call.batch ? Endpoint::batch : Endpoint::single;
    facts.send_offset_ms = entry.send_offset_ms;
    facts.latency_ms = static_cast<double>(resp.elapsed.count()) / 1000.0;
    facts.http_status = o.http_status;
    facts.error_class = o.error_class;
    facts.usage = o.usage;
    facts.prompt_bytes = entry.prompt_bytes;
    facts.answer_bytes = o.kind == backend::OutcomeKind::ok ? o.answer.size() : 0;
    if (o.rate_limited) {
      auto& note = limits_[lease.model];
      note.retry_after_seconds = std::max(note.retry_after_seconds, o.retry_after_s.value_or(1.0));
      note.count += 1;
    }
    note_health(lease.model, o);
    note_overload(lease, o, facts.latency_ms);
    switch (o.kind) {
      case backend::OutcomeKind::ok:
        results_.push_back(TaskResult::solved(std::move(lease), o.answer, std::move(facts)));
        break;
      case backend::OutcomeKind::permanent:
        if (is_model_level(o.http_status)) {  // the model, not the task: never fails the task
          results_.push_back(TaskResult::suspended(std::move(lease), std::move(facts)));
          break;
        }
        results_.push_back(TaskResult::failed(std::move(lease), o.error, std::move(facts)));
        break;
      case backend::OutcomeKind::transient: {
        const double wait = retry_delay_seconds(
            lease.attempts + 1, duration<double>(opt_.backoff_base).count(),
            duration<double>(opt_.backoff_max).count(), o.retry_after_s, jitter_());
        results_.push_back(TaskResult::retry(std::move(lease), o.error, wait, std::move(facts)));
        break;
      }
    }
  }
}

// Issue 14: a call that never reached the backend releases its tasks (no attempt, not a call).
void Dispatcher::on_unreachable(const http::Response& resp, const Call& call) {
  std::string error = resp.transport_error.empty() ? "could not connect" : resp.transport_error;
  for (const auto id : call.task_ids) {
    auto f = inflight_.find(id);
    if (f == inflight_.end()) {
      continue;
    }
    CallFacts facts;
    facts.endpoint = call.batch ? Endpoint::batch : Endpoint::single;
    facts.send_offset_ms = f->second.send_offset_ms;
    facts.latency_ms = static_cast<double>(resp.elapsed.count()) / 1000.0;
    results_.push_back(TaskResult::unreachable(std::move(f->second.lease), std::move(facts)));
    inflight_.erase(f);
  }
  unreachable_ = std::move(error);
  saw_unreachable_ = true;
}

void Dispatcher::note_health(const std::string& model, const backend::Outcome& o) {
  if (o.kind == backend::OutcomeKind::transient) {
    return;  // says nothing about the model (a 5xx, a timeout, a 429)
  }
  auto& h = health_[model];
  if (o.kind == backend::OutcomeKind::ok) {
    h = ModelHealthNote{};
    h.ok = true;
    h.reset = true;
  } else if (is_model_level(o.http_status)) {
    h.hard = o.error;
  } else if (h.streak > 0 && h.sig == o.error) {
    ++h.streak;
  } else {
    h.reset = h.reset || h.streak > 0;
    h.sig = o.error;
    h.streak = 1;
  }
}

// Issue 16. What says a model is over its capacity: a timeout (the call may still be queued
// at the backend), a 503 or 529 (the backend says so), and the latency of its answers.
void Dispatcher::note_overload(const Lease& lease, const backend::Outcome& o, double latency_ms) {
  if (!opt_.overload_protection) {
    return;
  }
  auto& n = overload_[lease.model];
  if (o.kind == backend::OutcomeKind::ok) {
    ++n.ok;
    if (n.latency_ms.size() < OverloadNote::kMaxSamples) {
      n.latency_ms.push_back(latency_ms);
    }
  } else if (o.error_class == "timeout") {
    ++n.timeouts;  // counts in the median with its time to the timeout
    if (n.latency_ms.size() < OverloadNote::kMaxSamples) {
      n.latency_ms.push_back(latency_ms);
    }
  } else if (o.http_status == 503 || o.http_status == 529) {
    ++n.overloaded;
  }
  // PostgreSQL's text of timestamptz in one session sorts as the times do.
  if (lease.claimed_at > n.latest_claimed_at) {
    n.latest_claimed_at = lease.claimed_at;
  }
}

std::vector<std::string> Dispatcher::overload_due(Clock::time_point now,
                                                  Clock::duration interval) const {
  std::vector<std::string> due;
  for (const auto& [model, note] : overload_) {
    if (note.ok == 0 && note.timeouts == 0 && note.overloaded == 0) {
      continue;
    }
    const auto last = overload_reported_.find(model);
    if (note.urgent() || last == overload_reported_.end() || now - last->second >= interval) {
      due.push_back(model);
    }
  }
  return due;
}

void Dispatcher::overload_written(const std::string& model, Clock::time_point now) {
  overload_.erase(model);
  overload_reported_[model] = now;
}

std::size_t Dispatcher::release_failures_of(const std::string& model) {
  std::size_t n = 0;
  for (auto& r : results_) {
    if (r.kind == ResultKind::permanent && r.lease.model == model && r.call.sent) {
      r.kind = ResultKind::release;
      r.error.clear();
      ++n;
    }
  }
  return n;
}

std::size_t Dispatcher::abandon_all() {
  const auto n = inflight_.size();
  for (auto& [id, f] : inflight_) {
    CallFacts facts;
    facts.endpoint = opt_.endpoint;
    facts.send_offset_ms = f.send_offset_ms;
    results_.push_back(TaskResult::abandoned(std::move(f.lease), std::move(facts)));
  }
  for (auto& [tag, call] : calls_) {  // older calls of re-claimed tasks: abandoned too
    for (auto& [id, f] : call.superseded) {
      CallFacts facts;
      facts.endpoint = opt_.endpoint;
      facts.send_offset_ms = f.send_offset_ms;
      results_.push_back(TaskResult::abandoned(std::move(f.lease), std::move(facts)));
    }
  }
  inflight_.clear();
  calls_.clear();
  return n;
}

std::vector<std::int64_t> Dispatcher::held_task_ids() const {
  std::vector<std::int64_t> ids;
  ids.reserve(inflight_.size() + results_.size());
  for (const auto& [id, f] : inflight_) {
    ids.push_back(id);
  }
  for (const auto& r : results_) {
    ids.push_back(r.lease.task_id);
  }
  return ids;
}

}  // namespace llmlb::work
