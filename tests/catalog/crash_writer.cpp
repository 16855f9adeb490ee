// Helper for crash_test: writes videos and jobs to a catalog in a loop and reports each write on
// stdout only after its commit returned OK. The test kills it with SIGKILL at random moments.
//
//   catalog_crash_writer DB ROUND
//
// Output, one line per committed write:
//   "V <id>"  video <id> (r<ROUND>-<i>) and its transcode job were committed (one transaction)
//   "R <id>"  a transcode job completed: video <id> (of this round or an earlier one in the
//             same file) is ready with one rendition and a poster
// Exits 2 on any error (the test treats that as a failure, unlike a kill).

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "catalog/catalog.h"

using namespace newsreel;
using namespace newsreel::catalog;

namespace {

void Report(const std::string& line) {
  std::string out = line + "\n";
  const char* p = out.data();
  size_t left = out.size();
  while (left > 0) {
    ssize_t n = write(STDOUT_FILENO, p, left);
    if (n <= 0) _exit(3);
    p += n;
    left -= static_cast<size_t>(n);
  }
}

int Fail(const Status& s) {
  std::fprintf(stderr, "crash_writer: %s\n", s.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s DB ROUND\n", argv[0]);
    return 2;
  }
  const std::string round = argv[2];
  CatalogOptions options;
  options.busy_timeout_ms = 10'000;
  Result<std::unique_ptr<Catalog>> opened = Catalog::Open(argv[1], options);
  if (!opened.ok()) return Fail(opened.status());
  Catalog& catalog = **opened;
  const std::string worker = "crash-writer-" + round;

  for (int i = 0;; ++i) {
    const std::string id = "r" + round + "-" + std::to_string(i);
    Result<Job> job = Status(ErrorCode::kInternal, "not enqueued");
    Status created = catalog.RunInTransaction([&]() -> Status {
      Video v;
      v.id = id;
      v.title = "Bản tin " + std::to_string(i) + " từ Điện Biên";
      v.description = std::string(200 + (i % 7) * 100, 'x');  // rows of varying size
      v.tags = {"thử nghiệm", "Vòng" + round};                // one word per round: "vong12"
      NR_RETURN_IF_ERROR(catalog.videos().Create(v).status());
      JobSpec spec;
      spec.video_id = id;
      job = catalog.jobs().Enqueue(spec);
      return job.status();
    });
    if (!created.ok()) return Fail(created);
    Report("V " + id);

    if (i % 2 == 1) continue;  // leave some jobs queued
    Result<std::optional<Job>> claimed = catalog.jobs().Claim(worker);
    if (!claimed.ok()) return Fail(claimed.status());
    if (!claimed->has_value()) return Fail(Internal("nothing to claim"));
    const int64_t job_id = (*claimed)->id;
    JobUpdate update;
    update.progress = JobProgress{50, 25, 1000};
    update.encoder = "x264enc";
    if (Status s = catalog.jobs().Heartbeat(job_id, worker, update); !s.ok()) return Fail(s);
    const std::string claimed_video = (*claimed)->video_id;
    VideoMedia media;
    media.renditions = {
        {"360p", 640, 360, 900'000, 800'000, "avc1.4d401e", 25, "360p/index.m3u8", "x264enc"}};
    media.assets = {{AssetKind::kPoster, "poster.jpg", 640, 360}};
    Result<Job> done = catalog.jobs().Complete(job_id, worker, media);
    if (!done.ok()) return Fail(done.status());
    Report("R " + claimed_video);
  }
}
