#include "streaming/internal/event_socket.h"

#include <nlohmann/json.hpp>

namespace newsreel::streaming {

bool MaySee(const Caller& caller, const EventAudience& audience) {
  if (audience.is_public || caller.CanSeeDrafts()) return true;
  return caller.user && !audience.owner.empty() && caller.user->name == audience.owner;
}

void EventSocket::Push(std::shared_ptr<const std::string> text) {
  outbox_.push_back(std::move(text));
}

bool EventSocket::Offer(const std::shared_ptr<const Event>& event) {
  if (!MaySee(caller_, event->audience)) return false;
  if (outbox_.size() >= max_backlog_) {
    const uint64_t missed = outbox_.size() + 1;
    missed_total_ += missed;
    outbox_.clear();
    nlohmann::json overflow = {
        {"type", "overflow"}, {"seq", event->seq}, {"data", {{"missed", missed}}}};
    outbox_.push_back(std::make_shared<const std::string>(overflow.dump()));
    return true;
  }
  outbox_.push_back(std::shared_ptr<const std::string>(event, &event->json));
  return true;
}

std::shared_ptr<const std::string> EventSocket::Next() {
  if (outbox_.empty()) return nullptr;
  auto next = std::move(outbox_.front());
  outbox_.pop_front();
  return next;
}

}  // namespace newsreel::streaming
