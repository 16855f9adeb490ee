#include "catalog/types.h"

#include <chrono>

namespace newsreel::catalog {
namespace {

template <typename Enum, size_t N>
Result<Enum> Parse(std::string_view text, const char* what, const Enum (&values)[N]) {
  std::string accepted;
  for (Enum value : values) {
    if (text == ToString(value)) return value;
    if (!accepted.empty()) accepted += ", ";
    accepted += ToString(value);
  }
  return InvalidArgument("unknown " + std::string(what) + " '" + std::string(text) +
                         "' (expected one of: " + accepted + ")");
}

constexpr VideoStatus kVideoStatuses[] = {VideoStatus::kUploading, VideoStatus::kQueued,
                                          VideoStatus::kProcessing, VideoStatus::kReady,
                                          VideoStatus::kFailed};
constexpr Visibility kVisibilities[] = {Visibility::kDraft, Visibility::kUnlisted,
                                        Visibility::kPublished};
constexpr JobState kJobStates[] = {JobState::kQueued, JobState::kRunning, JobState::kSucceeded,
                                   JobState::kFailed, JobState::kCancelled};
constexpr AssetKind kAssetKinds[] = {AssetKind::kPoster, AssetKind::kStoryboard,
                                     AssetKind::kStoryboardVtt};
constexpr LiveState kLiveStates[] = {LiveState::kIdle, LiveState::kLive, LiveState::kReconnecting,
                                     LiveState::kEnded};
constexpr Role kRoles[] = {Role::kViewer, Role::kReporter, Role::kEditor, Role::kAdmin};

}  // namespace

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* ToString(VideoStatus status) {
  switch (status) {
    case VideoStatus::kUploading:
      return "uploading";
    case VideoStatus::kQueued:
      return "queued";
    case VideoStatus::kProcessing:
      return "processing";
    case VideoStatus::kReady:
      return "ready";
    case VideoStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

const char* ToString(Visibility visibility) {
  switch (visibility) {
    case Visibility::kDraft:
      return "draft";
    case Visibility::kUnlisted:
      return "unlisted";
    case Visibility::kPublished:
      return "published";
  }
  return "unknown";
}

const char* ToString(JobState state) {
  switch (state) {
    case JobState::kQueued:
      return "queued";
    case JobState::kRunning:
      return "running";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

const char* ToString(AssetKind kind) {
  switch (kind) {
    case AssetKind::kPoster:
      return "poster";
    case AssetKind::kStoryboard:
      return "storyboard";
    case AssetKind::kStoryboardVtt:
      return "storyboard_vtt";
  }
  return "unknown";
}

const char* ToString(LiveState state) {
  switch (state) {
    case LiveState::kIdle:
      return "idle";
    case LiveState::kLive:
      return "live";
    case LiveState::kReconnecting:
      return "reconnecting";
    case LiveState::kEnded:
      return "ended";
  }
  return "unknown";
}

const char* ToString(TokenKind kind) { return kind == TokenKind::kSession ? "session" : "api"; }

const char* ToString(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kReporter:
      return "reporter";
    case Role::kEditor:
      return "editor";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

Result<VideoStatus> ParseVideoStatus(std::string_view t) {
  return Parse(t, "video status", kVideoStatuses);
}
Result<Visibility> ParseVisibility(std::string_view t) {
  return Parse(t, "visibility", kVisibilities);
}
Result<JobState> ParseJobState(std::string_view t) { return Parse(t, "job state", kJobStates); }
Result<AssetKind> ParseAssetKind(std::string_view t) { return Parse(t, "asset kind", kAssetKinds); }
Result<LiveState> ParseLiveState(std::string_view t) {
  return Parse(t, "live stream state", kLiveStates);
}
Result<Role> ParseRole(std::string_view t) { return Parse(t, "role", kRoles); }

Status ValidateFailureCode(std::string_view code) {
  if (code.size() > 32) return InvalidArgument("failure code is longer than 32 characters");
  for (char ch : code)
    if (!((ch >= 'a' && ch <= 'z') || ch == '_'))
      return InvalidArgument("failure code must be lower-case letters and underscores");
  return Status::Ok();
}

}  // namespace newsreel::catalog
