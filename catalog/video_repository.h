#pragma once
// Videos, their renditions and their assets (poster, storyboard).

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

// True when a video may move from `from` to `to` (staying put is always allowed):
//   uploading -> queued | failed
//   queued -> processing | failed
//   processing -> ready | failed | queued (an attempt failed and the job will be retried)
//   ready -> queued (transcode again)
//   failed -> queued (retry)
bool IsAllowedTransition(VideoStatus from, VideoStatus to);

// Typed access to the videos table. Owned by a Catalog and used on its thread; every call is one
// transaction (or joins the caller's Catalog::RunInTransaction) and returns an error value,
// never throws.
class VideoRepository {
 public:
  // `connection` must outlive the repository. Constructed by Catalog.
  explicit VideoRepository(internal::Connection& connection) : connection_(connection) {}

  // Stores a new video. An empty id is replaced by a fresh NewId(); a given id is validated
  // (ValidateId). created/updated times are set from the clock. kAlreadyExists when the id is
  // taken; kInvalidArgument for text that is not UTF-8, empty tags, or a failed status without
  // a reason. Returns the video as stored.
  Result<Video> Create(Video video);

  Result<Video> Get(std::string_view id);

  // Applies the fields that `patch` holds. kNotFound when there is no such video.
  Result<Video> Update(std::string_view id, const VideoPatch& patch);

  // Moves the video to `status` when IsAllowedTransition allows it (kFailedPrecondition
  // otherwise). `failure_reason` is required for kFailed and cleared for every other status.
  Result<Video> SetStatus(std::string_view id, VideoStatus status,
                          std::string_view failure_reason = {});

  // Records what the probe found.
  Result<Video> SetSourceFacts(std::string_view id, const SourceFacts& source,
                               std::optional<int64_t> duration_ms);

  // Deletes the video with its renditions, assets and jobs (the files are the caller's).
  // kNotFound when there is no such video.
  Status Delete(std::string_view id);

  // Videos matching `filter`, newest first, one page at a time (see PageRequest).
  Result<VideoPage> List(const VideoFilter& filter, const PageRequest& page);

  // Replaces all renditions and assets of a video at once, in one transaction: readers see the
  // old set or the new one, never a mix. Rendition names must be unique; paths must be relative
  // and stay inside the video's folder (no "..", no leading '/').
  Status ReplaceMedia(std::string_view id, const VideoMedia& media);

  // Renditions by decreasing bandwidth; assets by kind. kNotFound when there is no such video.
  Result<std::vector<Rendition>> ListRenditions(std::string_view id);
  Result<std::vector<Asset>> ListAssets(std::string_view id);

 private:
  Status CheckExists(std::string_view id);

  internal::Connection& connection_;
};

}  // namespace newsreel::catalog
