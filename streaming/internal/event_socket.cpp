#include "streaming/internal/event_socket.h"

#include <nlohmann/json.hpp>

#include "streaming/internal/authorize.h"

namespace newsreel::streaming {

bool MaySee(const Caller& caller, const EventAudience& audience) {
  // An event about something not public reaches those who may see a draft of its owner.
  return audience.is_public ||
         Allowed(caller, Action::kViewVideo, Resource::Owned(audience.owner_id));
}

void EventSocket::Push(std::shared_ptr<const std::string> text) {
  outbox_.emplace_back(std::move(text), false);
}

bool EventSocket::Offer(const std::shared_ptr<const Event>& event) {
  if (!MaySee(caller_, event->audience)) return false;
  if (outbox_.size() >= max_backlog_) {
    uint64_t missed = 1;  // this one
    for (const auto& [text, is_event] : outbox_) missed += is_event;
    missed_total_ += missed;
    outbox_.clear();
    nlohmann::json overflow = {
        {"type", "overflow"}, {"seq", event->seq}, {"data", {{"missed", missed}}}};
    outbox_.emplace_back(std::make_shared<const std::string>(overflow.dump()), false);
    return true;
  }
  outbox_.emplace_back(std::shared_ptr<const std::string>(event, &event->json), true);
  return true;
}

std::shared_ptr<const std::string> EventSocket::Next() {
  if (outbox_.empty()) return nullptr;
  auto next = std::move(outbox_.front().first);
  outbox_.pop_front();
  return next;
}

}  // namespace newsreel::streaming
