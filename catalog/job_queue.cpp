#include "catalog/job_queue.h"

#include <algorithm>

#include "catalog/internal/connection.h"
#include "catalog/video_repository.h"
#include "catalog/vietnamese_fold.h"

namespace newsreel::catalog {

using internal::Durability;
using internal::FailedPrecondition;
using internal::Guard;
using internal::OptionalInt64;
using internal::Query;

namespace {

constexpr int kMaxListSize = 500;

constexpr char kJobColumns[] =
    "id, kind, video_id, state, priority, attempts, max_attempts, payload, worker_id, "
    "lease_expires_at, run_after, progress_percent, progress_fps, eta_ms, encoder, error, "
    "created_at, updated_at, started_at, finished_at";

Job ReadJob(SQLite::Statement& s) {
  Job j;
  j.id = s.getColumn(0).getInt64();
  j.kind = s.getColumn(1).getString();
  j.video_id = s.getColumn(2).getString();  // NULL reads as ""
  Result<JobState> state = ParseJobState(s.getColumn(3).getString());
  if (!state.ok()) throw std::runtime_error(state.status().message());
  j.state = *state;
  j.priority = s.getColumn(4).getInt();
  j.attempts = s.getColumn(5).getInt();
  j.max_attempts = s.getColumn(6).getInt();
  j.payload = s.getColumn(7).getString();
  j.worker_id = s.getColumn(8).getString();
  j.lease_expires_at_ms = OptionalInt64(s.getColumn(9));
  j.run_after_ms = s.getColumn(10).getInt64();
  j.progress.percent = s.getColumn(11).getDouble();
  j.progress.fps = s.getColumn(12).getDouble();
  j.progress.eta_ms = OptionalInt64(s.getColumn(13));
  j.encoder = s.getColumn(14).getString();
  j.error = s.getColumn(15).getString();
  j.created_at_ms = s.getColumn(16).getInt64();
  j.updated_at_ms = s.getColumn(17).getInt64();
  j.started_at_ms = OptionalInt64(s.getColumn(18));
  j.finished_at_ms = OptionalInt64(s.getColumn(19));
  return j;
}

Status CheckKind(std::string_view kind) {
  bool ok = !kind.empty() && kind.size() <= 32 && std::all_of(kind.begin(), kind.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
  return ok ? Status::Ok()
            : InvalidArgument("job kind '" + std::string(kind) + "' is not [a-z0-9_]{1,32}");
}

Status CheckWorker(std::string_view worker_id) {
  if (worker_id.empty() || worker_id.size() > 200 || !IsValidUtf8(worker_id)) {
    return InvalidArgument("a worker id must be 1..200 bytes of UTF-8");
  }
  return Status::Ok();
}

bool IsTranscodeOfVideo(const Job& job) {
  return job.kind == kJobKindTranscode && !job.video_id.empty();
}

// The job must be running and leased to `worker_id`.
Status CheckHolder(const Job& job, std::string_view worker_id) {
  if (job.state == JobState::kCancelled) {
    return Status(ErrorCode::kCancelled, "job " + std::to_string(job.id) + " was cancelled");
  }
  if (job.state != JobState::kRunning || job.worker_id != worker_id) {
    return FailedPrecondition("worker " + std::string(worker_id) + " no longer holds job " +
                              std::to_string(job.id) + " (it is " + ToString(job.state) +
                              (job.worker_id.empty() ? "" : " by " + job.worker_id) + ")");
  }
  return Status::Ok();
}

}  // namespace

int64_t JobQueue::Backoff(int attempts) const {
  int64_t backoff = options_.retry_backoff_ms;
  for (int i = 1; i < attempts && backoff < options_.max_retry_backoff_ms; ++i) backoff *= 2;
  return std::min(backoff, options_.max_retry_backoff_ms);
}

Result<Job> JobQueue::Load(int64_t job_id) {
  Query q(connection_, std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?");
  q->bind(1, job_id);
  if (!q->executeStep()) return NotFound("no job with id " + std::to_string(job_id));
  return ReadJob(*q);
}

Status JobQueue::SetVideoStatusIf(const Job& job, std::initializer_list<VideoStatus> from,
                                  VideoStatus to, const std::string& reason,
                                  std::string_view code) {
  if (!IsTranscodeOfVideo(job)) return Status::Ok();
  std::string sql =
      "UPDATE videos SET status = ?, failure_reason = ?, failure_code = ?, updated_at = ? "
      "WHERE id = ? AND status IN (";
  for (size_t i = 0; i < from.size(); ++i) sql += i ? ", ?" : "?";
  sql += ")";
  Query q(connection_, sql);
  int i = 1;
  q->bind(i++, ToString(to));
  q->bind(i++, to == VideoStatus::kFailed ? reason : std::string());
  q->bind(i++, to == VideoStatus::kFailed ? std::string(code) : std::string());
  q->bind(i++, connection_.Now());
  q->bind(i++, job.video_id);
  for (VideoStatus s : from) q->bind(i++, ToString(s));
  q->exec();
  return Status::Ok();
}

Result<Job> JobQueue::Enqueue(const JobSpec& spec) {
  NR_RETURN_IF_ERROR(CheckKind(spec.kind));
  if (spec.max_attempts < 1) return InvalidArgument("max_attempts must be at least 1");
  if (!IsValidUtf8(spec.payload)) return InvalidArgument("job payload is not valid UTF-8");
  return Guard("enqueueing a job", [&]() -> Result<Job> {
    return connection_.TransactResult<Job>(Durability::kFull, [&]() -> Result<Job> {
      const int64_t now = connection_.Now();
      if (!spec.video_id.empty()) {
        Query exists(connection_, "SELECT 1 FROM videos WHERE id = ?");
        exists->bind(1, spec.video_id);
        if (!exists->executeStep()) return NotFound("no video with id " + spec.video_id);
      }
      int64_t id;
      {
        Query q(connection_,
                "INSERT INTO jobs (kind, video_id, priority, max_attempts, payload, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
        q->bind(1, spec.kind);
        if (spec.video_id.empty()) {
          q->bind(2);
        } else {
          q->bind(2, spec.video_id);
        }
        q->bind(3, spec.priority);
        q->bind(4, spec.max_attempts);
        q->bind(5, spec.payload);
        q->bind(6, now);
        q->bind(7, now);
        q->exec();
        id = connection_.db().getLastInsertRowid();
      }
      Result<Job> job = Load(id);
      if (!job.ok()) return job;
      NR_RETURN_IF_ERROR(SetVideoStatusIf(*job, {VideoStatus::kUploading, VideoStatus::kFailed},
                                          VideoStatus::kQueued, ""));
      return job;
    });
  });
}

Status JobQueue::RequeueOrFail(const Job& job, const std::string& reason, bool retryable,
                               int64_t backoff_ms, std::string_view code) {
  const int64_t now = connection_.Now();
  const bool retry = retryable && job.attempts < job.max_attempts;
  Query q(connection_,
          "UPDATE jobs SET state = ?, worker_id = NULL, lease_expires_at = NULL, run_after = ?, "
          "error = ?, updated_at = ?, finished_at = ? WHERE id = ?");
  q->bind(1, ToString(retry ? JobState::kQueued : JobState::kFailed));
  q->bind(2, retry ? now + backoff_ms : job.run_after_ms);
  q->bind(3, reason);
  q->bind(4, now);
  internal::BindOptional(*q, 5, retry ? std::nullopt : std::optional<int64_t>(now));
  q->bind(6, job.id);
  q->exec();
  if (retry) {
    return SetVideoStatusIf(job, {VideoStatus::kProcessing}, VideoStatus::kQueued, "");
  }
  std::string for_reporter =
      "Processing failed" +
      (job.attempts > 1 ? " after " + std::to_string(job.attempts) + " attempts" : std::string()) +
      ": " + reason;
  return SetVideoStatusIf(job, {VideoStatus::kQueued, VideoStatus::kProcessing},
                          VideoStatus::kFailed, for_reporter, code);
}

Status JobQueue::ReclaimExpiredLocked(int* count) {
  std::vector<Job> expired;
  {
    Query q(connection_, std::string("SELECT ") + kJobColumns +
                             " FROM jobs WHERE state = 'running' AND lease_expires_at <= ?");
    q->bind(1, connection_.Now());
    while (q->executeStep()) expired.push_back(ReadJob(*q));
  }
  for (const Job& job : expired) {
    // No back-off: the worker (or the whole server) died; the job itself may be fine.
    NR_RETURN_IF_ERROR(RequeueOrFail(
        job, "the worker " + job.worker_id + " stopped responding (its lease expired)", true, 0,
        "worker_lost"));
  }
  *count = static_cast<int>(expired.size());
  return Status::Ok();
}

Result<int> JobQueue::ReclaimExpired() {
  return Guard("reclaiming expired job leases", [&]() -> Result<int> {
    return connection_.TransactResult<int>(Durability::kFull, [&]() -> Result<int> {
      int count = 0;
      NR_RETURN_IF_ERROR(ReclaimExpiredLocked(&count));
      return count;
    });
  });
}

Result<std::optional<Job>> JobQueue::Claim(std::string_view worker_id,
                                           const std::vector<std::string>& kinds) {
  NR_RETURN_IF_ERROR(CheckWorker(worker_id));
  for (const std::string& kind : kinds) NR_RETURN_IF_ERROR(CheckKind(kind));
  using Claimed = std::optional<Job>;
  return Guard("claiming a job", [&]() -> Result<Claimed> {
    return connection_.TransactResult<Claimed>(Durability::kFull, [&]() -> Result<Claimed> {
      int reclaimed = 0;
      NR_RETURN_IF_ERROR(ReclaimExpiredLocked(&reclaimed));
      const int64_t now = connection_.Now();
      std::string sql = "SELECT id FROM jobs WHERE state = 'queued' AND run_after <= ?";
      if (!kinds.empty()) {
        sql += " AND kind IN (";
        for (size_t i = 0; i < kinds.size(); ++i) sql += i ? ", ?" : "?";
        sql += ")";
      }
      sql += " ORDER BY priority DESC, id LIMIT 1";
      int64_t id;
      {
        Query q(connection_, sql);
        q->bind(1, now);
        for (size_t i = 0; i < kinds.size(); ++i) q->bind(static_cast<int>(i) + 2, kinds[i]);
        if (!q->executeStep()) return Claimed();
        id = q->getColumn(0).getInt64();
      }
      {
        Query q(connection_,
                "UPDATE jobs SET state = 'running', worker_id = ?, lease_expires_at = ?, "
                "attempts = attempts + 1, started_at = ?, updated_at = ?, progress_percent = 0, "
                "progress_fps = 0, eta_ms = NULL WHERE id = ?");
        q->bind(1, std::string(worker_id));
        q->bind(2, now + options_.lease_ms);
        q->bind(3, now);
        q->bind(4, now);
        q->bind(5, id);
        q->exec();
      }
      Result<Job> job = Load(id);
      if (!job.ok()) return job.status();
      NR_RETURN_IF_ERROR(
          SetVideoStatusIf(*job, {VideoStatus::kQueued}, VideoStatus::kProcessing, ""));
      return Claimed(std::move(job).value());
    });
  });
}

Status JobQueue::Heartbeat(int64_t job_id, std::string_view worker_id, const JobUpdate& update) {
  if (update.encoder && !IsValidUtf8(*update.encoder)) {
    return InvalidArgument("encoder name is not valid UTF-8");
  }
  return Guard("recording a job heartbeat", [&]() -> Status {
    return connection_.Transact(Durability::kRelaxed, [&]() -> Status {
      Result<Job> job = Load(job_id);
      if (!job.ok()) return job.status();
      NR_RETURN_IF_ERROR(CheckHolder(*job, worker_id));
      const int64_t now = connection_.Now();
      JobProgress progress = update.progress.value_or(job->progress);
      progress.percent = std::clamp(progress.percent, 0.0, 100.0);
      Query q(connection_,
              "UPDATE jobs SET lease_expires_at = ?, progress_percent = ?, progress_fps = ?, "
              "eta_ms = ?, encoder = ?, updated_at = ? WHERE id = ?");
      q->bind(1, now + options_.lease_ms);
      q->bind(2, progress.percent);
      q->bind(3, progress.fps);
      internal::BindOptional(*q, 4, progress.eta_ms);
      q->bind(5, update.encoder.value_or(job->encoder));
      q->bind(6, now);
      q->bind(7, job_id);
      q->exec();
      return Status::Ok();
    });
  });
}

Result<Job> JobQueue::Complete(int64_t job_id, std::string_view worker_id,
                               const std::optional<VideoMedia>& media) {
  return Guard("completing a job", [&]() -> Result<Job> {
    return connection_.TransactResult<Job>(Durability::kFull, [&]() -> Result<Job> {
      Result<Job> job = Load(job_id);
      if (!job.ok()) return job;
      NR_RETURN_IF_ERROR(CheckHolder(*job, worker_id));
      if (IsTranscodeOfVideo(*job) && media) {
        NR_RETURN_IF_ERROR(videos_.ReplaceMedia(job->video_id, *media));
      }
      const int64_t now = connection_.Now();
      {
        Query q(connection_,
                "UPDATE jobs SET state = 'succeeded', lease_expires_at = NULL, "
                "progress_percent = 100, eta_ms = 0, error = '', updated_at = ?, finished_at = ? "
                "WHERE id = ?");
        q->bind(1, now);
        q->bind(2, now);
        q->bind(3, job_id);
        q->exec();
      }
      NR_RETURN_IF_ERROR(SetVideoStatusIf(*job, {VideoStatus::kQueued, VideoStatus::kProcessing},
                                          VideoStatus::kReady, ""));
      return Load(job_id);
    });
  });
}

Result<Job> JobQueue::Fail(int64_t job_id, std::string_view worker_id, std::string_view reason,
                           bool retryable, std::optional<int64_t> backoff_ms,
                           std::string_view code) {
  if (reason.empty() || !IsValidUtf8(reason)) {
    return InvalidArgument("a job failure needs a reason in UTF-8");
  }
  NR_RETURN_IF_ERROR(ValidateFailureCode(code));
  if (backoff_ms && *backoff_ms < 0) return InvalidArgument("a retry back-off cannot be negative");
  return Guard("failing a job", [&]() -> Result<Job> {
    return connection_.TransactResult<Job>(Durability::kFull, [&]() -> Result<Job> {
      Result<Job> job = Load(job_id);
      if (!job.ok()) return job;
      NR_RETURN_IF_ERROR(CheckHolder(*job, worker_id));
      NR_RETURN_IF_ERROR(RequeueOrFail(*job, std::string(reason), retryable,
                                       backoff_ms ? *backoff_ms : Backoff(job->attempts), code));
      return Load(job_id);
    });
  });
}

Result<Job> JobQueue::Release(int64_t job_id, std::string_view worker_id, std::string_view reason) {
  if (!IsValidUtf8(reason)) return InvalidArgument("release reason is not valid UTF-8");
  return Guard("releasing a job", [&]() -> Result<Job> {
    return connection_.TransactResult<Job>(Durability::kFull, [&]() -> Result<Job> {
      Result<Job> job = Load(job_id);
      if (!job.ok()) return job;
      NR_RETURN_IF_ERROR(CheckHolder(*job, worker_id));
      Query q(connection_,
              "UPDATE jobs SET state = 'queued', worker_id = NULL, lease_expires_at = NULL, "
              "attempts = MAX(attempts - 1, 0), run_after = ?, error = ?, updated_at = ? "
              "WHERE id = ?");
      const int64_t now = connection_.Now();
      q->bind(1, now);
      q->bind(2, std::string(reason));
      q->bind(3, now);
      q->bind(4, job_id);
      q->exec();
      NR_RETURN_IF_ERROR(
          SetVideoStatusIf(*job, {VideoStatus::kProcessing}, VideoStatus::kQueued, ""));
      return Load(job_id);
    });
  });
}

Result<Job> JobQueue::Cancel(int64_t job_id, std::string_view reason) {
  if (!IsValidUtf8(reason)) return InvalidArgument("cancel reason is not valid UTF-8");
  return Guard("cancelling a job", [&]() -> Result<Job> {
    return connection_.TransactResult<Job>(Durability::kFull, [&]() -> Result<Job> {
      Result<Job> job = Load(job_id);
      if (!job.ok()) return job;
      if (job->state == JobState::kCancelled) return job;
      if (job->state != JobState::kQueued && job->state != JobState::kRunning) {
        return FailedPrecondition("job " + std::to_string(job_id) + " already " +
                                  ToString(job->state));
      }
      const int64_t now = connection_.Now();
      const std::string why = reason.empty() ? "cancelled" : std::string(reason);
      {
        Query q(connection_,
                "UPDATE jobs SET state = 'cancelled', lease_expires_at = NULL, error = ?, "
                "updated_at = ?, finished_at = ? WHERE id = ?");
        q->bind(1, why);
        q->bind(2, now);
        q->bind(3, now);
        q->bind(4, job_id);
        q->exec();
      }
      NR_RETURN_IF_ERROR(SetVideoStatusIf(*job, {VideoStatus::kQueued, VideoStatus::kProcessing},
                                          VideoStatus::kFailed, "Processing was cancelled: " + why,
                                          "cancelled"));
      return Load(job_id);
    });
  });
}

Result<Job> JobQueue::Retry(int64_t job_id) {
  return Guard("retrying a job", [&]() -> Result<Job> {
    return connection_.TransactResult<Job>(Durability::kFull, [&]() -> Result<Job> {
      Result<Job> job = Load(job_id);
      if (!job.ok()) return job;
      if (job->state != JobState::kFailed && job->state != JobState::kCancelled) {
        return FailedPrecondition("only a failed or cancelled job can be retried; job " +
                                  std::to_string(job_id) + " is " + ToString(job->state));
      }
      const int64_t now = connection_.Now();
      {
        Query q(connection_,
                "UPDATE jobs SET state = 'queued', attempts = 0, worker_id = NULL, "
                "lease_expires_at = NULL, run_after = 0, progress_percent = 0, progress_fps = 0, "
                "eta_ms = NULL, updated_at = ?, finished_at = NULL WHERE id = ?");
        q->bind(1, now);
        q->bind(2, job_id);
        q->exec();
      }
      NR_RETURN_IF_ERROR(SetVideoStatusIf(*job, {VideoStatus::kFailed}, VideoStatus::kQueued, ""));
      return Load(job_id);
    });
  });
}

Result<Job> JobQueue::Get(int64_t job_id) {
  return Guard("reading a job", [&]() -> Result<Job> { return Load(job_id); });
}

Result<std::vector<Job>> JobQueue::List(const JobFilter& filter) {
  if (filter.limit < 1 || filter.limit > kMaxListSize) {
    return InvalidArgument("job list limit must be 1.." + std::to_string(kMaxListSize));
  }
  return Guard("listing jobs", [&]() -> Result<std::vector<Job>> {
    std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE 1 = 1";
    if (filter.state) sql += " AND state = ?";
    if (filter.video_id) sql += " AND video_id = ?";
    if (filter.kind) sql += " AND kind = ?";
    if (filter.before_id) sql += " AND id < ?";
    sql += " ORDER BY id DESC LIMIT ?";
    Query q(connection_, sql);
    int i = 1;
    if (filter.state) q->bind(i++, ToString(*filter.state));
    if (filter.video_id) q->bind(i++, *filter.video_id);
    if (filter.kind) q->bind(i++, *filter.kind);
    if (filter.before_id) q->bind(i++, *filter.before_id);
    q->bind(i++, filter.limit);
    std::vector<Job> jobs;
    while (q->executeStep()) jobs.push_back(ReadJob(*q));
    return jobs;
  });
}

Result<std::map<JobState, int64_t>> JobQueue::CountByState() {
  return Guard("counting jobs", [&]() -> Result<std::map<JobState, int64_t>> {
    Query q(connection_, "SELECT state, COUNT(*) FROM jobs GROUP BY state");
    std::map<JobState, int64_t> counts;
    while (q->executeStep()) {
      Result<JobState> state = ParseJobState(q->getColumn(0).getString());
      if (!state.ok()) return state.status();
      counts[*state] = q->getColumn(1).getInt64();
    }
    return counts;
  });
}

}  // namespace newsreel::catalog
