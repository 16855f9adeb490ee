#pragma once
// The outbox of one /ws client, apart from the socket: which events its caller may see, and
// what happens when the client reads slower than events come. A slow client is not dropped
// and its memory does not grow: once `max_backlog` events wait, the backlog is replaced by one
// {"type":"overflow","data":{"missed":N}} message (the client reloads what it shows), and new
// events queue behind it again.
//
// Threading: owned by the client's session on its service thread.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "streaming/events.h"
#include "streaming/request_context.h"

namespace newsreel::streaming {

// Whether `caller` may receive an event for `audience`: staff (who may see drafts) get every
// event, the subject's owner gets its events, anyone gets a public event.
bool MaySee(const Caller& caller, const EventAudience& audience);

class EventSocket {
 public:
  EventSocket(Caller caller, size_t max_backlog)
      : caller_(std::move(caller)), max_backlog_(max_backlog) {}

  // Queues a message for the client regardless of audience (hello).
  void Push(std::shared_ptr<const std::string> text);

  // Queues `event` when the caller may see it. Returns whether the client has something new
  // to send (ask for WRITEABLE).
  bool Offer(const std::shared_ptr<const Event>& event);

  // The next message to send, or null when none waits.
  std::shared_ptr<const std::string> Next();

  bool empty() const { return outbox_.empty(); }
  size_t backlog() const { return outbox_.size(); }
  uint64_t missed() const { return missed_total_; }
  const Caller& caller() const { return caller_; }

 private:
  const Caller caller_;
  const size_t max_backlog_;
  // Messages to send, each marked whether it is an event (not hello or an overflow notice).
  std::deque<std::pair<std::shared_ptr<const std::string>, bool>> outbox_;
  uint64_t missed_total_ = 0;
};

}  // namespace newsreel::streaming
