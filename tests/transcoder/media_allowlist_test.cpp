#include "transcoder/media_allowlist.h"

#include <gst/gst.h>
#include <gst/gsttracer.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "tests/transcoder/test_util.h"
#include "transcoder/gst_util.h"
#include "transcoder/probe.h"

namespace newsreel::transcoder {
namespace {

using testing::Media;
using testing::TempDir;

void Write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// An ID3v2.4 tag of `body_size` bytes of padding, as taggers put in front of MP3 files.
std::string Id3Tag(size_t body_size) {
  std::string tag = "ID3";
  tag += '\x04';
  tag += '\x00';
  tag += '\x00';
  for (int shift = 21; shift >= 0; shift -= 7)
    tag += static_cast<char>((body_size >> shift) & 0x7f);
  tag += std::string(body_size, '\0');
  return tag;
}

const char kHls[] =
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n"
    "http://127.0.0.1:9/secret.ts\n#EXT-X-ENDLIST\n";
const char kDash[] =
    "<?xml version=\"1.0\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\">"
    "<Period><AdaptationSet><Representation id=\"1\" bandwidth=\"1\">"
    "<BaseURL>http://127.0.0.1:9/a.mp4</BaseURL></Representation></AdaptationSet></Period></MPD>\n";
const char kSdp[] =
    "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=video 5004 RTP/AVP 96\n"
    "a=rtpmap:96 H264/90000\n";
const char kSmil[] = "<smil><body><video src=\"http://127.0.0.1:9/a.mp4\"/></body></smil>";

TEST(MediaAllowlistTest, EveryTestClipIsAdmitted) {
  for (const char* name :
       {"jsonize_iphone_rotated.mov", "moviepy_big_buck_bunny_432_433.webm", "moviepy_chaplin.mp4",
        "moviepy_crunching.mp3", "moviepy_rain.mp3", "moviepy_video_with_failing_audio.mp4",
        "nomexif_3gp_640x360.3gp", "nomexif_meta.mov", "nomexif_mkv_640x360.mkv",
        "nomexif_udta.auth.mp4", "nomexif_webm_480.webm", "videotestdata_1-video-streamable.mp4",
        "videotestdata_2-video-unstreamable.mp4"}) {
    auto type = CheckMediaFormat(Media(name));
    EXPECT_TRUE(type.ok()) << name << ": " << type.status().ToString();
  }
}

TEST(MediaAllowlistTest, FilesThatNameOtherResourcesAreNotMedia) {
  TempDir dir;
  const struct {
    const char* name;
    std::string bytes;
    const char* reason;
  } cases[] = {
      {"hls.mp4", kHls, "HLS playlist"},
      {"dash.mp4", kDash, "not a media file"},  // typefound as a DASH manifest or as text
      {"sdp.mp4", kSdp, "SDP"},
      {"smil.mp4", kSmil, "not a media file"},
      // A tag in front does not hide what follows it.
      {"id3-hls.mp3", Id3Tag(300) + kHls, "HLS playlist"},
      {"id3-only.mp3", Id3Tag(64), "nothing after its tags"},
      {"text.mp4", "just a note from the field, no video here\n", "not a media file"},
  };
  for (const auto& c : cases) {
    const std::string path = dir / c.name;
    Write(path, c.bytes);
    auto type = CheckMediaFormat(path);
    ASSERT_FALSE(type.ok()) << c.name << " was admitted as " << *type;
    EXPECT_EQ(type.status().code(), ErrorCode::kInvalidArgument) << c.name;
    EXPECT_NE(type.status().message().find("not a media file"), std::string::npos)
        << c.name << ": " << type.status().message();
    EXPECT_NE(type.status().message().find(c.reason), std::string::npos)
        << c.name << ": " << type.status().message();
    // The probe, the first thing a worker does with an upload, refuses it the same way.
    auto probed = Probe(path);
    EXPECT_EQ(probed.status().code(), ErrorCode::kInvalidArgument) << c.name;
  }
}

TEST(MediaAllowlistTest, AnMp3BehindAnId3TagIsStillAdmitted) {
  TempDir dir;
  std::ifstream in(Media("moviepy_crunching.mp3"), std::ios::binary);
  std::string mp3((std::istreambuf_iterator<char>(in)), {});
  const std::string path = dir / "tagged.mp3";
  Write(path, Id3Tag(4096) + Id3Tag(100) + mp3);  // two tags, as some taggers leave
  auto type = CheckMediaFormat(path);
  ASSERT_TRUE(type.ok()) << type.status().ToString();
  EXPECT_EQ(*type, "audio/mpeg");
}

// Each tag used to be skipped by reading the file again from after it, one call deeper: a
// 300 KB upload of empty ID3 headers (10 bytes each) read 30,000 megabytes and overflowed the
// worker's stack (SIGSEGV) instead of being refused.
TEST(MediaAllowlistTest, StackedId3TagsAreRefusedNotFollowedForever) {
  TempDir dir;
  std::string tags;
  for (int i = 0; i < 30000; ++i) tags += Id3Tag(0);
  const std::string path = dir / "tags.mp4";
  Write(path, tags + kHls);
  auto type = CheckMediaFormat(path);
  ASSERT_FALSE(type.ok()) << *type;
  EXPECT_EQ(type.status().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(type.status().message().find("ID3 tags in a row"), std::string::npos)
      << type.status().message();
  auto probed = Probe(path);
  EXPECT_EQ(probed.status().code(), ErrorCode::kInvalidArgument);
}

TEST(MediaAllowlistTest, NetworkAndPlaylistElementsAreNeverPlugged) {
  for (const char* name : {"souphttpsrc", "hlsdemux", "dashdemux", "sdpdemux", "rtspsrc", "udpsrc",
                           "filesrc", "multifilesrc"})
    EXPECT_TRUE(RefusesToPlug(name)) << name;
  for (const char* name : {"qtdemux", "matroskademux", "tsdemux", "avdec_h264", "id3demux",
                           "mpegaudioparse", "typefind", "multiqueue"})
    EXPECT_FALSE(RefusesToPlug(name)) << name;
}

// The factories of every element made in this process from the first Watch() on (a GStreamer
// tracer hook: it sees the elements GstDiscoverer makes inside itself as well).
struct MadeElements {
  std::mutex mu;
  std::set<std::string> names;
};
MadeElements& Made() {
  static MadeElements made;
  return made;
}
void OnElementNew(GObject*, GstClockTime, GstElement* element) {
  GstElementFactory* factory = gst_element_get_factory(element);
  if (factory == nullptr) return;
  std::lock_guard lock(Made().mu);
  Made().names.insert(gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory)));
}
struct WatchTracer {
  GstTracer parent;
};
struct WatchTracerClass {
  GstTracerClass parent_class;
};
G_DEFINE_TYPE(WatchTracer, watch_tracer, GST_TYPE_TRACER)
void watch_tracer_class_init(WatchTracerClass*) {}
void watch_tracer_init(WatchTracer* self) {
  gst_tracing_register_hook(GST_TRACER(self), "element-new", G_CALLBACK(&OnElementNew));
}
void Watch() {
  static std::once_flag once;
  std::call_once(once, [] {
    EnsureGstInit();
    g_object_new(watch_tracer_get_type(), nullptr);  // kept for the process: the hook holds it
  });
}

// Found by the probe's fuzzer (CI, December 2026): an FLV header, then an ID3 tag and a DASH
// manifest. Our typefinding of the head says FLV and admits it; GstDiscoverer's own typefinding
// of the whole file said DASH, and its decodebin (which takes no autoplug-select of ours) made
// dashdemux2, which parsed the manifest. Every network and playlist element is unranked at
// GStreamer's start now, so no autoplugger of the process can pick one.
TEST(MediaAllowlistTest, AManifestBehindAnAdmittedHeaderIsNeverPlugged) {
  Watch();
  TempDir dir;
  const std::string path = dir / "upload.mp4";
  const std::string bytes = std::string("FLV\x04\0\0\0\0\0\0ID3\x04\0\0\0\0\0\0", 20) +
                            "<?xml version=\"1" + std::string(31, '\x18') +
                            ".5\"?>\n<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\">"
                            "<Period><AdaptationSet><SAMI>sentation id=\"0\" bad></MPD>\n";
  Write(path, bytes);
  auto type = CheckMediaFormat(path);
  ASSERT_TRUE(type.ok()) << type.status().ToString();  // what made it dangerous
  EXPECT_EQ(*type, "video/x-flv");
  auto probed = Probe(path);
  ASSERT_FALSE(probed.ok());
  EXPECT_EQ(probed.status().code(), ErrorCode::kInvalidArgument) << probed.status().ToString();
  EXPECT_NE(probed.status().message().find("a DASH manifest"), std::string::npos)
      << probed.status().message();
  std::lock_guard lock(Made().mu);
  // The hook saw the discoverer's own elements, and none that reaches outside the file.
  EXPECT_TRUE(Made().names.contains("uridecodebin")) << ::testing::PrintToString(Made().names);
  for (const std::string& name : Made().names)
    EXPECT_TRUE(name == "filesrc" || !RefusesToPlug(name)) << name << " was made";
}

TEST(MediaAllowlistTest, NetworkAndPlaylistElementsHaveNoRank) {
  EnsureGstInit();
  int found = 0;
  for (const char* name : {"souphttpsrc", "hlsdemux", "dashdemux", "dashdemux2", "hlsdemux2",
                           "sdpdemux", "rtspsrc", "udpsrc", "multifilesrc", "splitmuxsrc"}) {
    GstElementFactory* factory = gst_element_factory_find(name);
    if (factory == nullptr) continue;  // not installed here
    ++found;
    EXPECT_EQ(gst_plugin_feature_get_rank(GST_PLUGIN_FEATURE(factory)), GST_RANK_NONE) << name;
    gst_object_unref(factory);
  }
  EXPECT_GE(found, 5);  // Debian's gstreamer1.0-plugins-good and -bad have most of them
  GstElementFactory* filesrc = gst_element_factory_find("filesrc");
  ASSERT_NE(filesrc, nullptr);
  EXPECT_EQ(gst_plugin_feature_get_rank(GST_PLUGIN_FEATURE(filesrc)), GST_RANK_PRIMARY);
  gst_object_unref(filesrc);
}

}  // namespace
}  // namespace newsreel::transcoder
