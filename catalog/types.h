#pragma once
// The values the catalog stores and returns. Plain structs, copyable, no behaviour beyond the
// enum <-> string conversions used in the database and in JSON.
//
// Times are milliseconds since the Unix epoch (UTC), as returned by a Clock.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace newsreel::catalog {

// Returns "now" in milliseconds since the Unix epoch. Injected so that tests control lease
// expiry and timestamps without sleeping. Must be callable from the thread that uses the Catalog.
using Clock = std::function<int64_t()>;

// The system clock (std::chrono::system_clock) in milliseconds.
int64_t SystemNowMs();

// uploading -> queued -> processing -> ready, or failed (with a reason a reporter can read).
// See docs/catalog.md for the allowed transitions.
enum class VideoStatus { kUploading, kQueued, kProcessing, kReady, kFailed };

// Who may see a video. Independent of its status: a published video that is still processing is
// listed but not yet playable.
enum class Visibility { kDraft, kUnlisted, kPublished };

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled };

enum class AssetKind { kPoster, kStoryboard, kStoryboardVtt };

enum class LiveState { kIdle, kLive, kReconnecting, kEnded };

// Ordered by privilege: each role can do what the ones before it can.
enum class Role { kViewer, kReporter, kEditor, kAdmin };

// Stable lower-case names ("processing", "unlisted", ...) used in the database and in JSON.
const char* ToString(VideoStatus status);
const char* ToString(Visibility visibility);
const char* ToString(JobState state);
const char* ToString(AssetKind kind);
const char* ToString(LiveState state);
const char* ToString(Role role);

// The inverse of ToString; kInvalidArgument naming the accepted values otherwise.
Result<VideoStatus> ParseVideoStatus(std::string_view text);
Result<Visibility> ParseVisibility(std::string_view text);
Result<JobState> ParseJobState(std::string_view text);
Result<AssetKind> ParseAssetKind(std::string_view text);
Result<LiveState> ParseLiveState(std::string_view text);
Result<Role> ParseRole(std::string_view text);

// A video's failure code (Video::failure_code): empty, or up to 32 lower-case letters and
// underscores. Open-ended on purpose: a page that does not know a code shows the reason.
Status ValidateFailureCode(std::string_view code);

// What the probe found in the reporter's original file. Zero or empty means unknown.
struct SourceFacts {
  std::string filename;  // as the reporter named it; never used as a path
  std::string container;
  std::string video_codec;
  std::string audio_codec;
  int width = 0;
  int height = 0;
  double frame_rate = 0;
  int64_t bit_rate = 0;
  int64_t size_bytes = 0;

  bool operator==(const SourceFacts&) const = default;
};

struct Video {
  std::string id;  // [A-Za-z0-9_-]{1,64}, not starting with '-'; generated when empty on Create
  std::string title;
  std::string description;
  std::vector<std::string> tags;
  std::string reporter;  // display name of the reporter who filed it
  // The account that filed it (its reporter may edit it); nullopt for imports and for videos
  // older than accounts, which only editors manage.
  std::optional<int64_t> owner_id;
  std::string location;
  std::optional<int64_t> recorded_at_ms;
  std::optional<int64_t> duration_ms;
  SourceFacts source;
  VideoStatus status = VideoStatus::kUploading;
  std::string failure_reason;  // set when status is kFailed; written for the reporter to read
  // With kFailed, what kind of failure, for pages to say in their own language: bad_input,
  // encoder_failed, crashed, timed_out (the worker's FailureCode names), worker_lost,
  // not_started, cancelled; empty when unknown (videos failed before codes were kept).
  std::string failure_code;
  Visibility visibility = Visibility::kDraft;
  int64_t created_at_ms = 0;  // set by the catalog
  int64_t updated_at_ms = 0;  // set by the catalog

  bool operator==(const Video&) const = default;
};

// A partial update of a video's editorial metadata: only the fields that hold a value change.
struct VideoPatch {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::vector<std::string>> tags;
  std::optional<std::string> reporter;
  std::optional<std::string> location;
  // Outer optional: whether to change it; inner: the new value, nullopt clears it.
  std::optional<std::optional<int64_t>> recorded_at_ms;
  std::optional<Visibility> visibility;
};

// One HLS rendition (rung) of a video, as the transcoder's manifest describes it.
struct Rendition {
  std::string name;  // "720p"; unique per video
  int width = 0;
  int height = 0;
  int64_t bandwidth = 0;          // measured peak, bits/s
  int64_t average_bandwidth = 0;  // measured average, bits/s
  std::string codecs;             // "avc1.64001f,mp4a.40.2"
  double frame_rate = 0;
  std::string playlist_path;  // relative to the video's media folder: "720p/index.m3u8"
  std::string encoder;        // the encoder element that produced it: "x264enc", "vah264enc"

  bool operator==(const Rendition&) const = default;
};

struct Asset {
  AssetKind kind = AssetKind::kPoster;
  std::string path;  // relative to the video's media folder
  int width = 0;
  int height = 0;

  bool operator==(const Asset&) const = default;
};

// Everything a finished transcode produced for one video.
struct VideoMedia {
  std::vector<Rendition> renditions;
  std::vector<Asset> assets;
};

// Filters for listing and searching videos; unset fields do not filter. Date ranges are
// half-open: from <= t < to.
struct VideoFilter {
  std::optional<VideoStatus> status;
  std::optional<Visibility> visibility;
  std::optional<std::string> reporter;  // exact match
  std::optional<int64_t> owner_id;      // exact match
  // What a signed-in reporter may list: published videos, and every video of this account.
  std::optional<int64_t> published_or_owner;
  std::optional<int64_t> recorded_from_ms;
  std::optional<int64_t> recorded_to_ms;
  std::optional<int64_t> created_from_ms;
  std::optional<int64_t> created_to_ms;
};

// Keyset paging: pass back the next_cursor of the previous page. Pages stay stable while videos
// are added or removed (no row is skipped or repeated because of an insert).
struct PageRequest {
  int limit = 20;      // 1..200
  std::string cursor;  // empty for the first page
};

struct VideoPage {
  std::vector<Video> videos;  // newest first (created_at, then insertion order)
  std::string next_cursor;    // empty when this is the last page
};

inline constexpr std::string_view kJobKindTranscode = "transcode";

struct JobProgress {
  double percent = 0;  // 0..100
  double fps = 0;
  std::optional<int64_t> eta_ms;

  bool operator==(const JobProgress&) const = default;
};

struct Job {
  int64_t id = 0;  // assigned by the catalog, increasing, never reused
  std::string kind;
  std::string video_id;  // empty when the job is about no video
  JobState state = JobState::kQueued;
  int priority = 0;  // higher runs first
  int attempts = 0;  // claims so far
  int max_attempts = 3;
  std::string payload;    // opaque to the catalog (JSON arguments for the worker)
  std::string worker_id;  // holder of the lease while running
  std::optional<int64_t> lease_expires_at_ms;
  int64_t run_after_ms = 0;  // not claimed before this time (retry back-off)
  JobProgress progress;
  std::string encoder;  // reported by the worker
  std::string error;    // the last failure, kept when the job is retried
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  std::optional<int64_t> started_at_ms;   // last claim
  std::optional<int64_t> finished_at_ms;  // succeeded, failed for good, or cancelled
};

struct JobSpec {
  std::string kind = std::string(kJobKindTranscode);  // [a-z0-9_]{1,32}
  std::string video_id;                               // optional; must exist when set
  int priority = 0;
  int max_attempts = 3;  // >= 1
  std::string payload;
};

// What a worker reports with a heartbeat; unset fields keep their stored values.
struct JobUpdate {
  std::optional<JobProgress> progress;
  std::optional<std::string> encoder;
};

struct JobFilter {
  std::optional<JobState> state;
  std::optional<std::string> video_id;
  std::optional<std::string> kind;
  int limit = 50;                    // 1..500
  std::optional<int64_t> before_id;  // paging: jobs with a smaller id (newest first)
};

// A tus upload in progress.
struct Upload {
  std::string id;  // becomes the video id; generated when empty on Create
  int64_t offset = 0;
  std::optional<int64_t> length;                // nullopt while deferred (Upload-Defer-Length)
  std::map<std::string, std::string> metadata;  // decoded Upload-Metadata
  std::string reporter;
  std::optional<int64_t> owner_id;  // the account that created it; only it may touch it
  std::string checksum_state;       // opaque bytes (e.g. a serialized running hash), may be empty
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t expires_at_ms = 0;  // required on Create
  std::optional<int64_t> completed_at_ms;

  bool operator==(const Upload&) const = default;
};

// A live stream: what an encoder pushes in with its stream key. The key itself is never stored
// (key_hash is its SHA-256); it is shown once, when the stream is created or its key rotated.
struct LiveStream {
  std::string id;  // generated when empty on Create
  std::string title;
  std::optional<int64_t> owner_id;  // the account that created it
  Visibility visibility = Visibility::kDraft;
  std::string key_hash;  // SHA-256 of the key (32 bytes)
  // The SRT passphrase (24 characters, generated): pullers must use it, and publishers too when
  // encrypt_ingest. A secret, kept readable because the listener sets it on each connection.
  std::string passphrase;
  bool encrypt_ingest = false;
  bool replace_publisher = false;  // a second publisher replaces the first instead of 409
  LiveState state = LiveState::kIdle;
  int64_t state_since_ms = 0;
  std::optional<int64_t> last_live_at_ms;
  std::string recording_video_id;  // the video the recording became; empty: none yet
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;

  bool operator==(const LiveStream&) const = default;
};

struct User {
  int64_t id = 0;
  std::string name;  // login name, unique ignoring ASCII case
  std::string display_name;
  Role role = Role::kViewer;
  bool disabled = false;
  int64_t created_at_ms = 0;

  bool operator==(const User&) const = default;
};

// An API token for scripts and apps (Authorization: Bearer), or a browser's session (a cookie).
enum class TokenKind { kApi, kSession };
const char* ToString(TokenKind kind);

// An API token. Only a hash of its secret is stored.
struct Token {
  int64_t id = 0;
  int64_t user_id = 0;
  std::string label;
  int64_t created_at_ms = 0;
  std::optional<int64_t> expires_at_ms;
  std::optional<int64_t> last_used_at_ms;
  std::optional<int64_t> revoked_at_ms;
  TokenKind kind = TokenKind::kApi;

  bool operator==(const Token&) const = default;
};

}  // namespace newsreel::catalog
