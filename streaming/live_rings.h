#pragma once
// The rings of the live streams that are on air (media_ring.h), by stream id and rung: a
// producer (the live service, from the live worker's CMAF parts, or a test) opens one, pushes
// fragments into it and closes it; /ws/live/<id>?rung=<name> viewers find it here.
//
// It is also where the producer says which LL-HLS part of a stream's rung is the newest
// (NotePart): service threads subscribe to that, to answer the requests they hold back until a
// part exists (docs/live.md, "Low latency"). Thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/status.h"
#include "streaming/media_ring.h"

namespace newsreel::streaming {

// A part of a live rung's LL-HLS playlist: part `part` (0-based) of media segment `msn`.
// msn -1: none yet.
struct PartPosition {
  int64_t msn = -1;
  int part = -1;

  bool operator==(const PartPosition&) const = default;
  auto operator<=>(const PartPosition&) const = default;
};

class LiveRings {
 public:
  // The ring of `stream_id`'s rung `rung`, made when there is none. A stream without rungs (a
  // single ring) uses rung "". kInvalidArgument for a stream id that /ws/live/ would not route
  // (ws_endpoints.h), a rung that is not [A-Za-z0-9_-]{0,32}, or bad options.
  Result<std::shared_ptr<MediaRing>> Open(const std::string& stream_id,
                                          const MediaRingOptions& options = {},
                                          const std::string& rung = "");

  // The ring of `stream_id`'s `rung`, or null when there is none on air. Rung "": the top one,
  // which is the rung "" when the stream has it, else the one whose name starts with the
  // largest number ("720p" before "360p"; on a tie, or without numbers, the first by name).
  std::shared_ptr<MediaRing> Find(const std::string& stream_id, const std::string& rung = "") const;

  // Takes the stream off air: new viewers are refused; viewers still connected are sent what
  // their cursor still has, then closed (MediaRing::End). Its part positions are forgotten,
  // and the part subscribers are called with `ended`. Opening the id again makes new rings.
  void Close(const std::string& stream_id);

  // LL-HLS: the worker announced part `position` of `stream_id`'s `rung`, and the playlist that
  // lists it is in place. Positions only move forward (an older one is ignored, but a new run
  // after a restart may go on from where the last one was). Calls the part subscribers.
  void NotePart(const std::string& stream_id, const std::string& rung, PartPosition position);
  // The newest part announced for the rung, if any since the stream went on air.
  std::optional<PartPosition> LastPart(const std::string& stream_id, const std::string& rung) const;

  // `on_part(stream, rung, position, ended)` is called after every NotePart (ended false) and
  // at Close (ended true, rung "", position {}) on the calling thread, with the subscription
  // lock held: it must only post a wake-up, never block, and never (un)subscribe. After
  // UnsubscribeParts returns, it is not running and will not be called again.
  using PartCallback = std::function<void(const std::string& stream, const std::string& rung,
                                          PartPosition position, bool ended)>;
  int SubscribeParts(PartCallback on_part);
  void UnsubscribeParts(int id);

 private:
  using Key = std::pair<std::string, std::string>;  // stream id, rung
  void CallSubscribers(const std::string& stream, const std::string& rung, PartPosition position,
                       bool ended);

  mutable std::mutex mu_;
  std::map<Key, std::shared_ptr<MediaRing>> rings_;  // guarded by mu_
  std::map<Key, PartPosition> parts_;                // guarded by mu_

  std::mutex subs_mu_;  // guards subscribers_ and next_sub_id_; held while calling them
  std::map<int, PartCallback> subscribers_;
  int next_sub_id_ = 1;
};

}  // namespace newsreel::streaming
