#include "catalog/job_queue.h"

#include <gtest/gtest.h>

#include "tests/catalog/test_util.h"

namespace newsreel::catalog {
namespace {

using testing::CatalogTest;

constexpr int64_t kLease = 30'000;
constexpr int64_t kBackoff = 10'000;

class JobQueueTest : public CatalogTest {
 protected:
  void SetUp() override {
    job_options_.lease_ms = kLease;
    job_options_.retry_backoff_ms = kBackoff;
    job_options_.max_retry_backoff_ms = 25'000;
    CatalogTest::SetUp();
  }

  JobQueue& jobs() { return catalog_->jobs(); }

  // A video in "uploading" with a transcode job queued for it.
  Job EnqueueTranscode(const std::string& video_id, int max_attempts = 3, int priority = 0) {
    MakeVideo("Video " + video_id, video_id);
    JobSpec spec;
    spec.video_id = video_id;
    spec.max_attempts = max_attempts;
    spec.priority = priority;
    Result<Job> job = jobs().Enqueue(spec);
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    return job.ok() ? job.value() : Job{};
  }

  Job ClaimOne(const std::string& worker) {
    Result<std::optional<Job>> claimed = jobs().Claim(worker);
    EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
    EXPECT_TRUE(claimed.ok() && claimed->has_value()) << "nothing to claim";
    return claimed.ok() && claimed->has_value() ? **claimed : Job{};
  }

  bool NothingToClaim(const std::string& worker) {
    Result<std::optional<Job>> claimed = jobs().Claim(worker);
    EXPECT_TRUE(claimed.ok()) << claimed.status().ToString();
    return claimed.ok() && !claimed->has_value();
  }

  Video GetVideo(const std::string& id) {
    Result<Video> v = catalog_->videos().Get(id);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v.value() : Video{};
  }
};

TEST_F(JobQueueTest, EnqueueQueuesTheJobAndTheVideo) {
  Job job = EnqueueTranscode("vid");
  EXPECT_GT(job.id, 0);
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_EQ(job.kind, "transcode");
  EXPECT_EQ(job.attempts, 0);
  EXPECT_EQ(job.created_at_ms, clock_.now());
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kQueued);
}

TEST_F(JobQueueTest, EnqueueValidates) {
  JobSpec spec;
  spec.video_id = "missing";
  NR_EXPECT_CODE(jobs().Enqueue(spec), ErrorCode::kNotFound);
  spec.video_id.clear();
  spec.kind = "Transcode!";
  NR_EXPECT_CODE(jobs().Enqueue(spec), ErrorCode::kInvalidArgument);
  spec.kind = "probe";
  spec.max_attempts = 0;
  NR_EXPECT_CODE(jobs().Enqueue(spec), ErrorCode::kInvalidArgument);
  spec.max_attempts = 1;
  NR_EXPECT_OK(jobs().Enqueue(spec));  // a job about no video
}

TEST_F(JobQueueTest, CountByStateCountsEachState) {
  EXPECT_TRUE(jobs().CountByState()->empty());
  EnqueueTranscode("a");
  EnqueueTranscode("b");
  EnqueueTranscode("c");
  Job running = ClaimOne("w1");
  NR_ASSERT_OK_AND_ASSIGN(auto counts, jobs().CountByState());
  EXPECT_EQ(counts[JobState::kQueued], 2);
  EXPECT_EQ(counts[JobState::kRunning], 1);
  EXPECT_EQ(counts.count(JobState::kFailed), 0u);
  NR_EXPECT_OK(jobs().Cancel(running.id, "test"));
  NR_ASSERT_OK_AND_ASSIGN(counts, jobs().CountByState());
  EXPECT_EQ(counts[JobState::kCancelled], 1);
  EXPECT_EQ(counts.count(JobState::kRunning), 0u);
}

TEST_F(JobQueueTest, ReleaseRequeuesWithoutCountingTheAttempt) {
  Job job = EnqueueTranscode("rel", /*max_attempts=*/1);
  Job claimed = ClaimOne("w1");
  EXPECT_EQ(claimed.attempts, 1);
  NR_EXPECT_CODE(jobs().Release(job.id, "someone-else", "shutdown"),
                 ErrorCode::kFailedPrecondition);
  NR_ASSERT_OK_AND_ASSIGN(Job released, jobs().Release(job.id, "w1", "server shut down"));
  EXPECT_EQ(released.state, JobState::kQueued);
  EXPECT_EQ(released.attempts, 0);
  EXPECT_EQ(GetVideo("rel").status, VideoStatus::kQueued);
  // With max_attempts 1 it can still run once more.
  Job again = ClaimOne("w2");
  EXPECT_EQ(again.id, job.id);
  EXPECT_EQ(again.attempts, 1);
}

TEST_F(JobQueueTest, ClaimTakesHighestPriorityThenOldest) {
  Job low1 = EnqueueTranscode("a", 3, 0);
  Job high = EnqueueTranscode("b", 3, 5);
  Job low2 = EnqueueTranscode("c", 3, 0);
  EXPECT_EQ(ClaimOne("w1").id, high.id);
  EXPECT_EQ(ClaimOne("w1").id, low1.id);
  EXPECT_EQ(ClaimOne("w1").id, low2.id);
  EXPECT_TRUE(NothingToClaim("w1"));
}

TEST_F(JobQueueTest, ClaimLeasesTheJobAndStartsProcessing) {
  EnqueueTranscode("vid");
  Job job = ClaimOne("worker-1");
  EXPECT_EQ(job.state, JobState::kRunning);
  EXPECT_EQ(job.worker_id, "worker-1");
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(job.lease_expires_at_ms, clock_.now() + kLease);
  EXPECT_EQ(job.started_at_ms, clock_.now());
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kProcessing);
  EXPECT_TRUE(NothingToClaim("worker-2"));
}

TEST_F(JobQueueTest, ClaimCanBeLimitedToKinds) {
  JobSpec probe;
  probe.kind = "probe";
  NR_ASSERT_OK_AND_ASSIGN(Job p, jobs().Enqueue(probe));
  NR_ASSERT_OK_AND_ASSIGN(std::optional<Job> none, jobs().Claim("w", {"thumbnail"}));
  EXPECT_FALSE(none.has_value());
  NR_ASSERT_OK_AND_ASSIGN(std::optional<Job> got, jobs().Claim("w", {"thumbnail", "probe"}));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, p.id);
  NR_EXPECT_CODE(jobs().Claim(""), ErrorCode::kInvalidArgument);
}

TEST_F(JobQueueTest, HeartbeatExtendsTheLeaseAndRecordsProgress) {
  EnqueueTranscode("vid");
  Job job = ClaimOne("w1");
  clock_.Advance(kLease - 1);
  JobUpdate update;
  update.progress = JobProgress{42.5, 58.0, 12'000};
  update.encoder = "vah264enc";
  NR_ASSERT_OK(jobs().Heartbeat(job.id, "w1", update));
  clock_.Advance(kLease - 1);  // past the first lease, inside the extended one
  EXPECT_TRUE(NothingToClaim("w2"));
  NR_ASSERT_OK_AND_ASSIGN(Job now, jobs().Get(job.id));
  EXPECT_EQ(now.state, JobState::kRunning);
  EXPECT_EQ(now.progress, (JobProgress{42.5, 58.0, 12'000}));
  EXPECT_EQ(now.encoder, "vah264enc");
  // A heartbeat without progress keeps what was reported.
  NR_ASSERT_OK(jobs().Heartbeat(job.id, "w1"));
  NR_ASSERT_OK_AND_ASSIGN(now, jobs().Get(job.id));
  EXPECT_EQ(now.progress.percent, 42.5);
  EXPECT_EQ(now.lease_expires_at_ms, clock_.now() + kLease);
}

TEST_F(JobQueueTest, OnlyTheLeaseHolderMayReport) {
  EnqueueTranscode("vid");
  Job job = ClaimOne("w1");
  NR_EXPECT_CODE(jobs().Heartbeat(job.id, "w2"), ErrorCode::kFailedPrecondition);
  NR_EXPECT_CODE(jobs().Complete(job.id, "w2"), ErrorCode::kFailedPrecondition);
  NR_EXPECT_CODE(jobs().Fail(job.id, "w2", "no"), ErrorCode::kFailedPrecondition);
  NR_EXPECT_CODE(jobs().Heartbeat(987654, "w1"), ErrorCode::kNotFound);
}

TEST_F(JobQueueTest, AnExpiredLeaseIsClaimedAgainAndTheOldWorkerIsLockedOut) {
  EnqueueTranscode("vid");
  Job first = ClaimOne("w1");
  clock_.Advance(kLease);  // the lease runs out: w1 died
  Job second = ClaimOne("w2");
  EXPECT_EQ(second.id, first.id);
  EXPECT_EQ(second.attempts, 2);
  EXPECT_EQ(second.worker_id, "w2");
  EXPECT_NE(second.error.find("stopped responding"), std::string::npos) << second.error;
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kProcessing);
  // w1 comes back from a long pause: it must not touch the job any more.
  NR_EXPECT_CODE(jobs().Heartbeat(first.id, "w1"), ErrorCode::kFailedPrecondition);
  NR_EXPECT_CODE(jobs().Complete(first.id, "w1"), ErrorCode::kFailedPrecondition);
  NR_EXPECT_OK(jobs().Complete(second.id, "w2"));
}

TEST_F(JobQueueTest, ExpiredLeasesStopAtMaxAttemptsAndTheVideoFails) {
  EnqueueTranscode("vid", /*max_attempts=*/2);
  Job job = ClaimOne("w1");
  clock_.Advance(kLease);
  EXPECT_EQ(ClaimOne("w2").attempts, 2);
  clock_.Advance(kLease);
  EXPECT_TRUE(NothingToClaim("w3"));  // reclaimed, but out of attempts
  NR_ASSERT_OK_AND_ASSIGN(Job failed, jobs().Get(job.id));
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(failed.finished_at_ms, clock_.now());
  Video v = GetVideo("vid");
  EXPECT_EQ(v.status, VideoStatus::kFailed);
  EXPECT_NE(v.failure_reason.find("after 2 attempts"), std::string::npos) << v.failure_reason;
  EXPECT_EQ(v.failure_code, "worker_lost");
}

TEST_F(JobQueueTest, AServerRestartReclaimsJobsOfWorkersThatDiedWithIt) {
  EnqueueTranscode("a");
  EnqueueTranscode("b");
  Job a = ClaimOne("old-server/1");
  Job b = ClaimOne("old-server/2");
  Reopen();  // the server was killed; its workers went with it
  clock_.Advance(kLease + 1);
  NR_ASSERT_OK_AND_ASSIGN(int reclaimed, jobs().ReclaimExpired());
  EXPECT_EQ(reclaimed, 2);
  NR_ASSERT_OK_AND_ASSIGN(Job again, jobs().Get(a.id));
  EXPECT_EQ(again.state, JobState::kQueued);
  EXPECT_EQ(again.run_after_ms, clock_.now());  // no back-off: the job itself did not fail
  EXPECT_EQ(GetVideo("a").status, VideoStatus::kQueued);
  EXPECT_EQ(ClaimOne("new-server/1").id, a.id);
  EXPECT_EQ(ClaimOne("new-server/2").id, b.id);
  NR_ASSERT_OK_AND_ASSIGN(reclaimed, jobs().ReclaimExpired());
  EXPECT_EQ(reclaimed, 0);
}

TEST_F(JobQueueTest, FailRetriesAfterABackOffThatGrows) {
  EnqueueTranscode("vid", /*max_attempts=*/4);
  Job job = ClaimOne("w");
  NR_ASSERT_OK_AND_ASSIGN(Job failed, jobs().Fail(job.id, "w", "encoder crashed"));
  EXPECT_EQ(failed.state, JobState::kQueued);
  EXPECT_EQ(failed.error, "encoder crashed");
  EXPECT_EQ(failed.run_after_ms, clock_.now() + kBackoff);
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kQueued);
  clock_.Advance(kBackoff - 1);
  EXPECT_TRUE(NothingToClaim("w"));
  clock_.Advance(1);
  ClaimOne("w");
  NR_ASSERT_OK_AND_ASSIGN(failed, jobs().Fail(job.id, "w", "encoder crashed again"));
  EXPECT_EQ(failed.run_after_ms, clock_.now() + 2 * kBackoff);
  clock_.Advance(2 * kBackoff);
  ClaimOne("w");
  NR_ASSERT_OK_AND_ASSIGN(failed, jobs().Fail(job.id, "w", "and again"));
  EXPECT_EQ(failed.run_after_ms, clock_.now() + 25'000);  // capped
}

TEST_F(JobQueueTest, FailWithAnExplicitBackOffUsesIt) {
  EnqueueTranscode("vid", /*max_attempts=*/3);
  Job job = ClaimOne("w");
  NR_ASSERT_OK_AND_ASSIGN(Job failed, jobs().Fail(job.id, "w", "encoder failed", true, 0));
  EXPECT_EQ(failed.state, JobState::kQueued);
  EXPECT_EQ(failed.run_after_ms, clock_.now());
  ClaimOne("w");  // at once, no back-off
  NR_ASSERT_OK_AND_ASSIGN(failed, jobs().Fail(job.id, "w", "crashed", true, 1234));
  EXPECT_EQ(failed.run_after_ms, clock_.now() + 1234);
  clock_.Advance(1233);
  EXPECT_TRUE(NothingToClaim("w"));
  clock_.Advance(1);
  ClaimOne("w");
  NR_EXPECT_CODE(jobs().Fail(job.id, "w", "x", true, -1), ErrorCode::kInvalidArgument);
}

TEST_F(JobQueueTest, FailGivesUpAtMaxAttemptsOrWhenNotRetryable) {
  EnqueueTranscode("a", /*max_attempts=*/1);
  Job a = ClaimOne("w");
  NR_ASSERT_OK_AND_ASSIGN(Job failed, jobs().Fail(a.id, "w", "không đọc được tệp"));
  EXPECT_EQ(failed.state, JobState::kFailed);
  Video v = GetVideo("a");
  EXPECT_EQ(v.status, VideoStatus::kFailed);
  EXPECT_EQ(v.failure_reason, "Processing failed: không đọc được tệp");
  EXPECT_EQ(v.failure_code, "");  // none given: the pages show the reason alone

  EnqueueTranscode("b", /*max_attempts=*/5);
  Job b = ClaimOne("w");
  NR_ASSERT_OK_AND_ASSIGN(failed,
                          jobs().Fail(b.id, "w", "not a media file", false, 0, "bad_input"));
  EXPECT_EQ(failed.state, JobState::kFailed);
  EXPECT_EQ(GetVideo("b").status, VideoStatus::kFailed);
  EXPECT_EQ(GetVideo("b").failure_code, "bad_input");
  NR_EXPECT_CODE(jobs().Fail(b.id, "w", ""), ErrorCode::kInvalidArgument);
}

TEST_F(JobQueueTest, AFailureCodeIsAWordAndOnlyAFinalFailureSetsIt) {
  EnqueueTranscode("a", /*max_attempts=*/2);
  Job a = ClaimOne("w");
  for (const char* bad :
       {"Bad_Input", "bad input", "bad-input", "<b>", "a_very_long_code_of_33_letters_xy"}) {
    SCOPED_TRACE(bad);
    NR_EXPECT_CODE(jobs().Fail(a.id, "w", "x", true, 0, bad), ErrorCode::kInvalidArgument);
  }
  // Retried: the video is queued again, with no code.
  NR_ASSERT_OK(jobs().Fail(a.id, "w", "the encoder stopped", true, 0, "encoder_failed"));
  EXPECT_EQ(GetVideo("a").status, VideoStatus::kQueued);
  EXPECT_EQ(GetVideo("a").failure_code, "");
  ClaimOne("w");
  NR_ASSERT_OK(jobs().Fail(a.id, "w", "the encoder stopped again", true, 0, "encoder_failed"));
  EXPECT_EQ(GetVideo("a").status, VideoStatus::kFailed);
  EXPECT_EQ(GetVideo("a").failure_code, "encoder_failed");
  // A retry clears it with the reason.
  NR_ASSERT_OK(jobs().Retry(a.id));
  EXPECT_EQ(GetVideo("a").failure_code, "");
  EXPECT_EQ(GetVideo("a").failure_reason, "");
}

TEST_F(JobQueueTest, CompleteStoresTheMediaAndMakesTheVideoReady) {
  EnqueueTranscode("vid");
  Job job = ClaimOne("w");
  VideoMedia media;
  media.renditions = {{"720p", 1280, 720, 3'000'000, 2'000'000, "avc1.64001f,mp4a.40.2", 25,
                       "720p/index.m3u8", "x264enc"}};
  media.assets = {{AssetKind::kPoster, "poster.jpg", 1280, 720}};
  clock_.Advance(1234);
  NR_ASSERT_OK_AND_ASSIGN(Job done, jobs().Complete(job.id, "w", media));
  EXPECT_EQ(done.state, JobState::kSucceeded);
  EXPECT_EQ(done.progress.percent, 100);
  EXPECT_EQ(done.finished_at_ms, clock_.now());
  EXPECT_FALSE(done.lease_expires_at_ms.has_value());
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kReady);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Rendition> renditions,
                          catalog_->videos().ListRenditions("vid"));
  EXPECT_EQ(renditions, media.renditions);
  // Finished jobs are not claimed again, even after their old lease time.
  clock_.Advance(10 * kLease);
  EXPECT_TRUE(NothingToClaim("w"));
  NR_EXPECT_CODE(jobs().Complete(job.id, "w"), ErrorCode::kFailedPrecondition);
}

TEST_F(JobQueueTest, CompleteWithBadMediaChangesNothing) {
  EnqueueTranscode("vid");
  Job job = ClaimOne("w");
  VideoMedia bad;
  bad.assets = {{AssetKind::kPoster, "../../escape.jpg"}};
  NR_EXPECT_CODE(jobs().Complete(job.id, "w", bad), ErrorCode::kInvalidArgument);
  NR_ASSERT_OK_AND_ASSIGN(Job still, jobs().Get(job.id));
  EXPECT_EQ(still.state, JobState::kRunning);
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kProcessing);
}

TEST_F(JobQueueTest, ReTranscodingAReadyVideoKeepsItReady) {
  EnqueueTranscode("vid");
  Job first = ClaimOne("w");
  NR_ASSERT_OK(jobs().Complete(first.id, "w"));
  JobSpec again;
  again.video_id = "vid";
  again.max_attempts = 1;
  NR_ASSERT_OK(jobs().Enqueue(again));
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kReady);
  Job second = ClaimOne("w");
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kReady);
  NR_ASSERT_OK(jobs().Fail(second.id, "w", "boom"));
  EXPECT_EQ(GetVideo("vid").status, VideoStatus::kReady);  // old renditions still play
}

TEST_F(JobQueueTest, CancelIsAStateNotADeletion) {
  EnqueueTranscode("queued");
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> listed, jobs().List({}));
  const int64_t queued_id = listed.front().id;
  NR_ASSERT_OK_AND_ASSIGN(Job cancelled, jobs().Cancel(queued_id, "phóng viên rút bài"));
  EXPECT_EQ(cancelled.state, JobState::kCancelled);
  EXPECT_EQ(cancelled.error, "phóng viên rút bài");
  Video v = GetVideo("queued");
  EXPECT_EQ(v.status, VideoStatus::kFailed);
  EXPECT_EQ(v.failure_reason, "Processing was cancelled: phóng viên rút bài");
  EXPECT_EQ(v.failure_code, "cancelled");
  EXPECT_TRUE(NothingToClaim("w"));
  NR_EXPECT_OK(jobs().Get(queued_id));              // still there
  NR_EXPECT_OK(jobs().Cancel(queued_id, "again"));  // idempotent

  EnqueueTranscode("running");
  Job running = ClaimOne("w");
  NR_ASSERT_OK(jobs().Cancel(running.id, ""));
  // The worker learns it at its next heartbeat, and cannot complete.
  NR_EXPECT_CODE(jobs().Heartbeat(running.id, "w"), ErrorCode::kCancelled);
  NR_EXPECT_CODE(jobs().Complete(running.id, "w"), ErrorCode::kCancelled);
  clock_.Advance(10 * kLease);
  NR_ASSERT_OK_AND_ASSIGN(int reclaimed, jobs().ReclaimExpired());
  EXPECT_EQ(reclaimed, 0);

  EnqueueTranscode("done");
  Job done = ClaimOne("w");
  NR_ASSERT_OK(jobs().Complete(done.id, "w"));
  NR_EXPECT_CODE(jobs().Cancel(done.id, "too late"), ErrorCode::kFailedPrecondition);
}

TEST_F(JobQueueTest, RetryRequeuesAFailedJobWithFreshAttempts) {
  EnqueueTranscode("vid", /*max_attempts=*/1);
  Job job = ClaimOne("w");
  NR_ASSERT_OK(jobs().Fail(job.id, "w", "disk full"));
  NR_ASSERT_OK_AND_ASSIGN(Job retried, jobs().Retry(job.id));
  EXPECT_EQ(retried.state, JobState::kQueued);
  EXPECT_EQ(retried.attempts, 0);
  EXPECT_EQ(retried.error, "disk full");  // the last failure stays visible
  EXPECT_FALSE(retried.finished_at_ms.has_value());
  Video v = GetVideo("vid");
  EXPECT_EQ(v.status, VideoStatus::kQueued);
  EXPECT_EQ(v.failure_reason, "");
  Job again = ClaimOne("w");
  EXPECT_EQ(again.id, job.id);
  EXPECT_EQ(again.attempts, 1);
  NR_EXPECT_CODE(jobs().Retry(job.id), ErrorCode::kFailedPrecondition);  // running
}

TEST_F(JobQueueTest, ListFiltersAndPagesNewestFirst) {
  EnqueueTranscode("a");
  EnqueueTranscode("b");
  EnqueueTranscode("c");
  JobSpec probe;
  probe.kind = "probe";
  probe.video_id = "a";
  NR_ASSERT_OK(jobs().Enqueue(probe));
  Job claimed = ClaimOne("w");  // the oldest transcode, for "a"

  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> all, jobs().List({}));
  ASSERT_EQ(all.size(), 4u);
  EXPECT_GT(all[0].id, all[1].id);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> running, jobs().List({.state = JobState::kRunning}));
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].id, claimed.id);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> of_a, jobs().List({.video_id = "a"}));
  EXPECT_EQ(of_a.size(), 2u);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> probes, jobs().List({.kind = "probe"}));
  EXPECT_EQ(probes.size(), 1u);
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> page1, jobs().List({.limit = 2}));
  NR_ASSERT_OK_AND_ASSIGN(std::vector<Job> page2,
                          jobs().List({.limit = 2, .before_id = page1.back().id}));
  ASSERT_EQ(page2.size(), 2u);
  EXPECT_EQ(page2[0].id, all[2].id);
  EXPECT_EQ(page2[1].id, all[3].id);
  NR_EXPECT_CODE(jobs().List({.limit = 0}), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace newsreel::catalog
