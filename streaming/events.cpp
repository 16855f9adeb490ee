#include "streaming/events.h"

namespace newsreel::streaming {

int EventBus::Subscribe(Sink sink) {
  std::lock_guard lock(mu_);
  int id = next_id_++;
  sinks_[id] = std::move(sink);
  return id;
}

void EventBus::Unsubscribe(int id) {
  std::lock_guard lock(mu_);
  sinks_.erase(id);
}

void EventBus::Publish(const std::string& type, nlohmann::json data, EventAudience audience) {
  std::lock_guard lock(mu_);
  PublishLocked(type, std::move(data), std::move(audience));
}

bool EventBus::PublishProgress(int64_t job_id, nlohmann::json data, bool final,
                               EventAudience audience) {
  std::lock_guard lock(mu_);
  auto now = std::chrono::steady_clock::now();
  auto it = last_progress_.find(job_id);
  if (!final && it != last_progress_.end() && now - it->second < min_progress_interval_)
    return false;
  if (final)
    last_progress_.erase(job_id);
  else
    last_progress_[job_id] = now;
  PublishLocked("job.progress", std::move(data), std::move(audience));
  return true;
}

uint64_t EventBus::published() const {
  std::lock_guard lock(mu_);
  return seq_;
}

void EventBus::PublishLocked(const std::string& type, nlohmann::json data, EventAudience audience) {
  nlohmann::json event = {{"seq", ++seq_},
                          {"type", type},
                          {"time_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count()},
                          {"data", std::move(data)}};
  auto published = std::make_shared<Event>();
  published->seq = seq_;
  published->type = type;
  published->audience = std::move(audience);
  // What events carry comes from clients' metadata; never throw over a byte that is not UTF-8.
  published->json = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::shared_ptr<const Event> shared = std::move(published);
  for (auto& [id, sink] : sinks_) sink(shared);
}

}  // namespace newsreel::streaming
