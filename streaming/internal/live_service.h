#pragma once
// Live streams on the server (issue 14): the SRT ingest listener, the streams' states and the
// live workers that turn their bytes into HLS, tied together. docs/live.md is the user's page.
//
// A broadcast, as the service sees it:
//   idle/ended --publisher accepted--> live: a `live` job runs `newsreel live` on the stream's
//       bytes (its stdin is a pipe the ingest thread writes into), and the bytes are recorded;
//   live --publisher gone--> reconnecting: the worker finishes its last segment, then a slate
//       worker continues the playlists ("the broadcast will resume shortly") for the grace;
//   reconnecting --publisher back--> live: the slate ends and a new worker continues the
//       playlists after an EXT-X-DISCONTINUITY;
//   reconnecting --grace over-- or --End()--> ended: the playlists get EXT-X-ENDLIST and the
//       recording becomes a draft video of the stream's owner, transcoded like any upload.
// One worker per stream at a time: the next starts only once the previous one is reaped.
// A worker that crashes is restarted by the supervisor (its job is retried) and continues the
// playlists; a server restart finds its streams `reconnecting` and waits for their publishers.
//
// Threads: the service's own thread owns its catalog connection and every state change; the
// SRT authorizer answers from memory on libsrt's thread; bytes go from the ingest thread into
// the worker's pipe without blocking (held while no worker reads, up to a bound; then dropped
// and counted). Public methods are thread-safe.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"
#include "common/worker_protocol.h"
#include "streaming/data_dir.h"
#include "streaming/events.h"
#include "streaming/internal/ll_hls.h"
#include "streaming/internal/srt_ingest.h"
#include "streaming/internal/supervisor.h"
#include "streaming/live_rings.h"
#include "streaming/metrics.h"

namespace newsreel::catalog {
class Catalog;
}

namespace newsreel::streaming {

inline constexpr char kJobKindLive[] = "live";

struct LiveServiceOptions {
  DataDir data;
  std::string worker_binary;  // the `newsreel` executable
  SrtIngestOptions srt;       // the ingest port (srt.port 0: a free one)
  int max_streams = 4;        // publishers at once; more are refused with 503
  // How long a stream whose publisher dropped stays `reconnecting` before it ends.
  std::chrono::milliseconds reconnect_grace{60'000};
  std::string ladder = "720,480,360";  // short sides of the live rungs (newsreel live --ladder)
  double segment_seconds = 2;
  double window_seconds = 30;
  int64_t worker_memory_limit_mb = 3072;
  int worker_nice = 5;  // live work goes before transcodes (10), after serving (0)
  // Bytes held for a stream whose worker is not reading yet (starting, restarting): its first
  // seconds reach the worker whole. Beyond this, bytes are dropped (and counted).
  size_t max_held_bytes = 16 << 20;
  // Low latency (docs/live.md): the workers also write CMAF parts and LL-HLS playlists
  // (`newsreel live --low-latency`), and each part they announce goes into the stream's ring
  // of its rung in `rings` for /ws/live/<id> viewers, and is noted there for the requests that
  // wait for it. `rings` must outlive the service; null: parts are not taken.
  bool low_latency = false;
  LiveRings* rings = nullptr;
  MediaRingOptions ring_options{
      .max_frames = 96, .max_bytes = 16 << 20, .max_client_bytes = 4 << 20};
  // The largest part or init segment file read (a bound against a runaway file).
  size_t max_part_bytes = 16 << 20;
};

// What the API shows of a stream's present, from memory.
struct LiveStreamFigures {
  catalog::LiveState state = catalog::LiveState::kIdle;
  int64_t state_since_ms = 0;
  std::optional<SrtConnectionStats> ingest;   // while a publisher is connected
  std::optional<worker::LiveFigures> worker;  // the live worker's latest heartbeat
  int viewers = 0;                            // addresses that fetched a playlist lately
  int pullers = 0;                            // SRT pullers (broadcasters) connected
  int64_t dropped_bytes = 0;                  // this broadcast: not taken by the worker
};

// Who may watch a stream: enough for authorize.h, from memory.
struct LiveAccess {
  std::optional<int64_t> owner_id;
  catalog::Visibility visibility = catalog::Visibility::kDraft;
};

class LiveService {
 public:
  LiveService(LiveServiceOptions options, EventBus& events, Metrics& metrics);
  ~LiveService();  // Stop()

  // The worker kind for the supervisor (build the supervisor with it, then Start this).
  WorkerKind Kind();

  // Loads the streams, cancels live jobs a previous server left, marks streams that were on air
  // `reconnecting` (their publishers will call again), binds the SRT port and starts the
  // service's thread. `supervisor` must outlive the service (Stop before it).
  Status Start(JobSupervisor* supervisor);
  void Stop();

  int srt_port() const;

  // After the API created a stream in the catalog.
  void Created(const catalog::LiveStream& stream);
  // After the API changed a stream in the catalog: the service takes the new row (key, title,
  // visibility, settings). A rotated key disconnects the publisher.
  void Updated(const catalog::LiveStream& stream, bool key_rotated);
  // After the API deleted a stream: its publisher is disconnected, its workers end, its files go.
  void Deleted(const std::string& id);
  // Ends the broadcast now (the owner pressed "end"): as if the grace ran out.
  void End(const std::string& id);

  std::optional<LiveStreamFigures> Figures(const std::string& id) const;
  std::optional<LiveAccess> Access(const std::string& id) const;
  // A playlist of the stream was fetched from `address`: counts a viewer for a while.
  void NoteViewer(const std::string& id, const std::string& address);

 private:
  struct Stream;
  using Clock = std::chrono::steady_clock;

  // SRT callbacks.
  SrtDecision Authorize(const ParsedStreamId& id, std::string* passphrase);
  void OnConnect(const SrtConnectionInfo& info);
  void OnData(const std::string& stream, std::span<const uint8_t> bytes);
  void OnDisconnect(const SrtConnectionInfo& info, const std::string& why);
  // Worker kind hooks (supervisor thread).
  Result<std::vector<std::string>> WorkerArgv(const catalog::Job& job,
                                              worker::EncoderChoice encoder);
  Result<int> WorkerInput(const catalog::Job& job);
  void OnHeartbeat(const catalog::Job& job, const worker::Heartbeat& heartbeat);
  void OnWorkerLine(const catalog::Job& job, const std::string& line);  // a `part`, say
  void OnWorkerEnd(const catalog::Job& job, WorkerEnd end);

  // The service thread.
  void Post(std::function<void()> task);
  void Run();
  void Advance(const std::string& id);  // starts what the stream's state calls for
  void SetState(const std::string& id, catalog::LiveState state);
  void CountStates();  // the gauges in Metrics
  void StartJob(const std::string& id, const std::string& mode);
  void EndJob(Stream& s);
  void Finish(const std::string& id);
  std::string RecordingToVideo(const catalog::LiveStream& row, const std::filesystem::path& dir);
  std::filesystem::path OutDir(const std::string& id) const;
  std::filesystem::path RecordingDir(const std::string& id) const;
  void WriteToWorker(Stream& s, std::span<const uint8_t> bytes);  // mu_ held
  void PublishState(const Stream& s);
  // A part the stream's worker announced: its bytes (and its rung's init segment when that
  // changed) into the rung's ring, then its position noted. Service thread, without mu_.
  void TakePart(const std::string& id, const PartEvent& part);
  void CloseRings(const std::string& id);

  const LiveServiceOptions options_;
  EventBus& events_;
  Metrics& metrics_;
  JobSupervisor* supervisor_ = nullptr;
  std::unique_ptr<catalog::Catalog> catalog_;  // the service thread's
  std::unique_ptr<SrtIngest> ingest_;
  std::thread thread_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;                                   // guarded by mu_
  std::deque<std::function<void()>> tasks_;                 // guarded by mu_
  std::map<std::string, std::unique_ptr<Stream>> streams_;  // guarded by mu_; by id
  std::map<std::string, std::string> by_key_hash_;          // guarded by mu_; -> id
  std::map<int64_t, std::string> job_streams_;              // guarded by mu_; job id -> id
};

}  // namespace newsreel::streaming
