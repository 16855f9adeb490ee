#pragma once
// The durable job queue: transcodes (and later other kinds of work) waiting for, held by, or
// finished by worker processes.
//
// A job is queued, then claimed by a worker id with a lease that the worker keeps alive with
// heartbeats. A job whose lease runs out (its worker died, the server was killed) goes back to
// the queue on the next Claim or ReclaimExpired, until it has used up max_attempts. Failure and
// cancellation are states; a job row is only removed with its video.
//
// Jobs of kind "transcode" that name a video also move that video through its status:
//   Enqueue -> video queued (from uploading, queued or failed; a ready video stays ready while
//   it is transcoded again); Claim -> processing; Fail with a retry left -> queued;
//   Fail for good, lease lost for good, Cancel -> failed, with a reason a reporter can read
//   (a ready video stays ready); Complete -> ready, its renditions and assets replaced;
//   Retry -> queued. Each of these changes the job and the video in one transaction.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/types.h"
#include "common/status.h"

namespace newsreel::catalog {

namespace internal {
class Connection;
}
class VideoRepository;

struct JobQueueOptions {
  int64_t lease_ms = 60'000;               // how long a claim or heartbeat holds a job
  int64_t retry_backoff_ms = 10'000;       // wait before the 2nd attempt; doubles each time
  int64_t max_retry_backoff_ms = 600'000;  // cap on that wait
};

// Owned by a Catalog and used on its thread. Every call is one transaction.
class JobQueue {
 public:
  // `connection` and `videos` must outlive the queue. Constructed by Catalog.
  JobQueue(internal::Connection& connection, VideoRepository& videos, JobQueueOptions options)
      : connection_(connection), videos_(videos), options_(options) {}

  // Adds a queued job. kNotFound when spec.video_id names no video; kInvalidArgument for a kind
  // outside [a-z0-9_]{1,32} or max_attempts < 1.
  Result<Job> Enqueue(const JobSpec& spec);

  // Takes the runnable job with the highest priority (then the oldest) for `worker_id`, holding
  // it for lease_ms, and counts an attempt. Expired leases are reclaimed first. With `kinds`
  // non-empty only those kinds are considered. nullopt when nothing is runnable.
  Result<std::optional<Job>> Claim(std::string_view worker_id,
                                   const std::vector<std::string>& kinds = {});

  // Extends the lease by lease_ms and records progress and the encoder. Written with relaxed
  // durability (see docs/catalog.md). kCancelled when the job was cancelled (stop the worker);
  // kFailedPrecondition when `worker_id` no longer holds the job (its lease expired and the job
  // was reclaimed): the worker must stop without touching the job's outputs.
  Status Heartbeat(int64_t job_id, std::string_view worker_id, const JobUpdate& update = {});

  // Marks the job succeeded. For a transcode of a video, `media` (when given) replaces the
  // video's renditions and assets and the video becomes ready, in the same transaction.
  Result<Job> Complete(int64_t job_id, std::string_view worker_id,
                       const std::optional<VideoMedia>& media = std::nullopt);

  // Records a failed attempt. With `retryable` and attempts left the job is queued again after
  // a back-off: `backoff_ms` when given (the caller's retry policy decided it; 0 runs it again
  // at once), else retry_backoff_ms * 2^(attempts-1), capped; otherwise it fails for good, and
  // its video (a transcode's) becomes failed with `reason` and `code` (Video::failure_code).
  // Returns the job in its new state.
  Result<Job> Fail(int64_t job_id, std::string_view worker_id, std::string_view reason,
                   bool retryable = true, std::optional<int64_t> backoff_ms = std::nullopt,
                   std::string_view code = {});

  // Gives a running job back to the queue at once without counting the attempt, e.g. because
  // the server shuts down and ends its worker. kFailedPrecondition when `worker_id` does not
  // hold the job.
  Result<Job> Release(int64_t job_id, std::string_view worker_id, std::string_view reason);

  // Cancels a queued or running job (a running worker learns it from its next heartbeat).
  // kFailedPrecondition for a job that already finished.
  Result<Job> Cancel(int64_t job_id, std::string_view reason);

  // Queues a failed or cancelled job again with a fresh set of attempts.
  Result<Job> Retry(int64_t job_id);

  Result<Job> Get(int64_t job_id);

  // Jobs matching `filter`, newest first.
  Result<std::vector<Job>> List(const JobFilter& filter);

  // How many jobs are in each state (states with no job are absent). For metrics.
  Result<std::map<JobState, int64_t>> CountByState();

  // Requeues (or fails, when out of attempts) every running job whose lease has expired.
  // Returns how many jobs it touched. Call at server start; Claim also does it.
  Result<int> ReclaimExpired();

 private:
  Result<Job> Load(int64_t job_id);
  Status ReclaimExpiredLocked(int* count);
  Status RequeueOrFail(const Job& job, const std::string& reason, bool retryable,
                       int64_t backoff_ms, std::string_view code);
  Status SetVideoStatusIf(const Job& job, std::initializer_list<VideoStatus> from, VideoStatus to,
                          const std::string& reason, std::string_view code = {});
  int64_t Backoff(int attempts) const;

  internal::Connection& connection_;
  VideoRepository& videos_;
  JobQueueOptions options_;
};

}  // namespace newsreel::catalog
