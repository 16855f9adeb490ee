#pragma once
// Server events (job.progress, video.ready, video.failed, video.updated, video.deleted) fanned
// out to every WebSocket service thread in one global order, each with its audience.
//
// Thread-safe. Publish may be called from any thread; sinks are called with the bus's mutex held,
// in subscription order, so every sink sees every event in the same order (the `seq` field).
// A sink must only enqueue and wake its thread (lws_cancel_service), never block.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace newsreel::streaming {

// Who may receive an event: it carries the visibility and owner of what it is about, so that
// each socket is sent only what its caller may see (streaming/event_socket.h).
struct EventAudience {
  bool is_public = false;           // about something anonymous viewers may see (a published video)
  std::optional<int64_t> owner_id;  // the account that owns the subject (its reporter)
};

// One published event. Immutable once published; shared by every socket that sends it.
struct Event {
  uint64_t seq = 0;
  std::string type;
  EventAudience audience;
  std::string json;  // {"seq":N,"type":"...","time_ms":...,"data":{...}}
};

class EventBus {
 public:
  using Sink = std::function<void(std::shared_ptr<const Event> event)>;

  // `min_progress_interval`: job.progress events for one job closer together than this are
  // dropped (the last one of a job, at 100 %, always goes out).
  explicit EventBus(
      std::chrono::milliseconds min_progress_interval = std::chrono::milliseconds(250))
      : min_progress_interval_(min_progress_interval) {}

  int Subscribe(Sink sink);
  void Unsubscribe(int id);

  // An event for `audience`; by default only for staff (callers who may see drafts): an
  // event reaches the public only when its publisher says its subject is public.
  void Publish(const std::string& type, nlohmann::json data, EventAudience audience = {});

  // job.progress for `job_id`, throttled as described above. Returns whether it was sent.
  bool PublishProgress(int64_t job_id, nlohmann::json data, bool final = false,
                       EventAudience audience = {});

  uint64_t published() const;

 private:
  void PublishLocked(const std::string& type, nlohmann::json data, EventAudience audience);

  const std::chrono::milliseconds min_progress_interval_;
  mutable std::mutex mu_;
  std::map<int, Sink> sinks_;                                               // guarded by mu_
  int next_id_ = 1;                                                         // guarded by mu_
  uint64_t seq_ = 0;                                                        // guarded by mu_
  std::map<int64_t, std::chrono::steady_clock::time_point> last_progress_;  // guarded by mu_
};

}  // namespace newsreel::streaming
