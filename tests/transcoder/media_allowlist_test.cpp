#include "transcoder/media_allowlist.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/transcoder/test_util.h"
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

}  // namespace
}  // namespace newsreel::transcoder
