#pragma once
// The rings of the live streams that are on air (media_ring.h), by stream id: a producer (the
// live ingest, or a test) opens one, pushes frames into it and closes it; /ws/live/<id> viewers
// find it here. Thread-safe.

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "streaming/media_ring.h"

namespace newsreel::streaming {

class LiveRings {
 public:
  // The ring of `stream_id`, made when there is none. kInvalidArgument for a stream id that
  // /ws/live/ would not route (ws_endpoints.h) or for bad options.
  Result<std::shared_ptr<MediaRing>> Open(const std::string& stream_id,
                                          const MediaRingOptions& options = {});

  // The ring of `stream_id`, or null when the stream is not on air.
  std::shared_ptr<MediaRing> Find(const std::string& stream_id) const;

  // Takes the stream off air: new viewers are refused; viewers still connected are sent what
  // their cursor still has, then closed (MediaRing::End). Opening the id again makes a new ring.
  void Close(const std::string& stream_id);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<MediaRing>> rings_;  // guarded by mu_
};

}  // namespace newsreel::streaming
