// newsreelvideodec (transcoder/video_decoder.h) against GStreamer's avdec_h264/avdec_h265, which
// wrap the same libavcodec decoders: on every H.264 and HEVC clip of the shared media and on
// inputs made here with ffmpeg (interlaced, 10-bit, 4:2:2, 4:4:4, a size change mid-stream, a
// stream cut mid-GOP), the same caps, the same timestamps and flags, the same picture bytes.
// And decodebin plugs it before avdec.
#include <gst/app/gstappsink.h>
#include <gst/check/gstharness.h>
#include <gst/video/gstvideodecoder.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "tests/transcoder/test_util.h"
#include "transcoder/gst_util.h"
#include "transcoder/video_decoder.h"

namespace newsreel::transcoder {
namespace {

using testing::Media;
using testing::TempDir;

struct Picture {
  GstClockTime pts, duration;
  guint flags;  // interlaced, top field first, repeat first field, corrupted
  size_t hash;  // of the visible samples, row by row
  bool operator==(const Picture&) const = default;
};

struct Decoded {
  std::vector<std::string> caps;  // each distinct caps, in order
  std::vector<Picture> pictures;
  std::string error;
  size_t wrapped = 0;  // pictures that came as libavcodec's planes, one memory each, with a meta
};

// How the sink reads pictures: at GStreamer's default strides, or through GstVideoMeta (as every
// element of the transcoder's chains does), which lets newsreelvideodec hand libavcodec's
// pictures on without copying them.
enum class Reading { kDefaultStrides, kVideoMeta };

constexpr guint kComparedFlags = GST_VIDEO_BUFFER_FLAG_INTERLACED | GST_VIDEO_BUFFER_FLAG_TFF |
                                 GST_VIDEO_BUFFER_FLAG_RFF | GST_BUFFER_FLAG_CORRUPTED;

// Hashes what a picture shows: every plane's visible rows, not the padding between them.
size_t HashPicture(GstBuffer* buffer, const GstVideoInfo& info) {
  GstVideoFrame frame;
  if (!gst_video_frame_map(&frame, &info, buffer, GST_MAP_READ)) return 0;
  std::string visible;
  for (guint plane = 0; plane < GST_VIDEO_FRAME_N_PLANES(&frame); ++plane) {
    gint components[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(frame.info.finfo, plane, components);
    const int comp = components[0];
    const int row =
        GST_VIDEO_FRAME_COMP_WIDTH(&frame, comp) * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, comp);
    const auto* data = static_cast<const char*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, plane));
    for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT(&frame, comp); ++y)
      visible.append(data + static_cast<ptrdiff_t>(y) * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, plane),
                     static_cast<size_t>(row));
  }
  gst_video_frame_unmap(&frame);
  return std::hash<std::string_view>{}(visible);
}

// The video of `path`, parsed by parsebin and decoded by `decoder`.
Decoded DecodeWith(const std::string& path, const char* decoder,
                   Reading reading = Reading::kDefaultStrides) {
  EnsureGstInit();
  Decoded result;
  Pipeline pipeline("decode");
  GstElement* src = pipeline.Add(MakeElement("filesrc"));
  GstElement* parse = pipeline.Add(MakeElement("parsebin"));
  GstElement* dec = pipeline.Add(MakeElement(decoder));
  GstElement* sink = pipeline.Add(MakeElement("appsink"));
  g_object_set(src, "location", path.c_str(), nullptr);
  g_object_set(sink, "sync", FALSE, nullptr);
  if (!gst_element_link(src, parse) || !gst_element_link(dec, sink)) {
    result.error = "cannot link";
    return result;
  }
  testing::LinkFirstPad(parse, "video/", dec);
  if (reading == Reading::kVideoMeta) {
    // appsink says nothing in the allocation query; this sink reads through the meta.
    GstPtr<GstPad> sink_pad(gst_element_get_static_pad(sink, "sink"));
    gst_pad_add_probe(
        sink_pad.get(), GST_PAD_PROBE_TYPE_QUERY_DOWNSTREAM,
        +[](GstPad*, GstPadProbeInfo* info, gpointer) noexcept -> GstPadProbeReturn {
          GstQuery* query = GST_PAD_PROBE_INFO_QUERY(info);
          if (GST_QUERY_TYPE(query) == GST_QUERY_ALLOCATION)
            gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
          return GST_PAD_PROBE_OK;
        },
        nullptr, nullptr);
  }
  gst_element_set_state(pipeline.element(), GST_STATE_PLAYING);
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    SamplePtr owner(sample);
    GstCaps* caps = gst_sample_get_caps(sample);
    GCharPtr text(gst_caps_to_string(caps));
    if (result.caps.empty() || result.caps.back() != text.get()) result.caps.push_back(text.get());
    GstVideoInfo info;
    gst_video_info_from_caps(&info, caps);
    GstBuffer* buffer = gst_sample_get_buffer(sample);
    if (gst_buffer_get_video_meta(buffer) != nullptr &&
        gst_buffer_n_memory(buffer) == GST_VIDEO_INFO_N_PLANES(&info)) {
      ++result.wrapped;
      // Reads every byte of every memory: a memory reaching past libavcodec's buffer shows
      // under valgrind.
      GstMapInfo whole;
      if (gst_buffer_map(buffer, &whole, GST_MAP_READ)) gst_buffer_unmap(buffer, &whole);
    }
    result.pictures.push_back({GST_BUFFER_PTS(buffer), GST_BUFFER_DURATION(buffer),
                               GST_BUFFER_FLAGS(buffer) & kComparedFlags,
                               HashPicture(buffer, info)});
  }
  MessagePtr error(gst_bus_pop_filtered(pipeline.bus(), GST_MESSAGE_ERROR));
  if (error) result.error = DescribeGstMessage(error.get());
  return result;
}

// Decodes `path` with newsreelvideodec and with `avdec`, and expects the same of both. Returns
// the caps newsreelvideodec gave.
std::string ExpectAvdecsPictures(const std::string& path, const char* avdec = "avdec_h264") {
  SCOPED_TRACE(path);
  const Decoded theirs = DecodeWith(path, avdec);
  EXPECT_EQ(theirs.error, "");
  EXPECT_FALSE(theirs.pictures.empty());
  std::string caps;
  // Copied into GStreamer's buffers, then handed on as libavcodec's own planes.
  for (const Reading reading : {Reading::kDefaultStrides, Reading::kVideoMeta}) {
    const bool meta = reading == Reading::kVideoMeta;
    SCOPED_TRACE(meta ? "read through GstVideoMeta" : "read at default strides");
    const Decoded ours = DecodeWith(path, kVideoDecoderFactory, reading);
    EXPECT_EQ(ours.error, "");
    EXPECT_EQ(ours.caps, theirs.caps);
    EXPECT_EQ(ours.pictures.size(), theirs.pictures.size());
    // Wrapped exactly when the sink reads through the meta.
    EXPECT_EQ(ours.wrapped, meta ? ours.pictures.size() : 0u);
    for (size_t i = 0; i < ours.pictures.size() && i < theirs.pictures.size(); ++i) {
      const Picture& a = ours.pictures[i];
      const Picture& b = theirs.pictures[i];
      if (a == b) continue;
      ADD_FAILURE() << "picture " << i << ": pts " << a.pts << " / " << b.pts << ", duration "
                    << a.duration << " / " << b.duration << ", flags " << a.flags << " / "
                    << b.flags;
      break;
    }
    if (!meta)
      for (const std::string& c : ours.caps) caps += c + "\n";
  }
  return caps;
}

int Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

// A clip made by ffmpeg from its test source: `video` are the encoder's options.
std::string Generate(const TempDir& dir, const std::string& name, const std::string& size,
                     const std::string& video) {
  const std::string path = dir / name;
  const std::string command = "ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=" + size +
                              ":rate=25 -t 2 " + video + " " + path;
  EXPECT_EQ(Shell(command), 0) << command;
  return path;
}

TEST(VideoDecoderTest, SameAsAvdecOnTheSharedPhoneAndCameraClips) {
  for (const char* clip :
       {"jsonize_iphone_rotated.mov", "nomexif_meta.mov", "nomexif_3gp_640x360.3gp",
        "nomexif_mkv_640x360.mkv", "moviepy_chaplin.mp4", "moviepy_video_with_failing_audio.mp4",
        "videotestdata_1-video-streamable.mp4", "videotestdata_2-video-unstreamable.mp4"})
    ExpectAvdecsPictures(Media(clip));
}

TEST(VideoDecoderTest, SameAsAvdecOnASingleFrameHevcClip) {
  ExpectAvdecsPictures(Media("nomexif_udta.auth.mp4"), "avdec_h265");
}

TEST(VideoDecoderTest, SameAsAvdecOnInterlacedAndDeeperH264) {
  TempDir dir;
  ExpectAvdecsPictures(Generate(dir, "interlaced.ts", "720x576",
                                "-vf tinterlace=mode=interleave_top,setfield=tff -c:v libx264 "
                                "-preset ultrafast -flags +ildct+ilme -x264-params tff=1"));
  ExpectAvdecsPictures(Generate(dir, "bff.mkv", "720x480",
                                "-vf setfield=bff -c:v libx264 -preset ultrafast -flags "
                                "+ildct+ilme -x264-params bff=1"));
  ExpectAvdecsPictures(Generate(dir, "high422.mp4", "640x360",
                                "-c:v libx264 -preset ultrafast -pix_fmt yuv422p10le"));
  ExpectAvdecsPictures(
      Generate(dir, "high444.mp4", "322x180", "-c:v libx264 -preset ultrafast -pix_fmt yuv444p"));
  ExpectAvdecsPictures(Generate(dir, "fullrange.mp4", "640x360",
                                "-c:v libx264 -preset ultrafast -pix_fmt yuvj420p -bf 3"));
}

// An HEVC clip made by ffmpeg (see Generate), compared with avdec_h265; returns our caps.
std::string ExpectAvdecsHevc(const TempDir& dir, const std::string& name, const std::string& size,
                             const std::string& more) {
  return ExpectAvdecsPictures(
      Generate(dir, name, size,
               "-c:v libx265 -preset ultrafast -x265-params log-level=none" + more),
      "avdec_h265");
}

TEST(VideoDecoderTest, SameAsAvdecOnTenBitHevc) {
  TempDir dir;
  const std::string caps = ExpectAvdecsHevc(dir, "hevc10.mp4", "640x360", " -pix_fmt yuv420p10le");
  EXPECT_NE(caps.find("I420_10LE"), std::string::npos) << caps;
  ExpectAvdecsHevc(dir, "hevc.ts", "426x240", ":bframes=4");
}

// A picture cropped on the left starts inside libavcodec's buffer; with a coded height that
// needs no rounding (HEVC), its last row's stride reaches past that buffer's end. The wrapped
// planes stop at the buffer's end and still show what avdec shows.
TEST(VideoDecoderTest, SameAsAvdecOnAPictureCroppedOnTheLeft) {
  TempDir dir;
  const std::string caps =
      ExpectAvdecsHevc(dir, "cropped.mp4", "512x256", " -bsf:v hevc_metadata=crop_left=128");
  EXPECT_NE(caps.find("width=(int)384"), std::string::npos) << caps;
}

// Two raw H.264 streams of different sizes one after the other, as a camera that changed its
// resolution writes them: the caps change with the pictures.
TEST(VideoDecoderTest, FollowsASizeChangeMidStream) {
  TempDir dir;
  const std::string first = Generate(dir, "a.h264", "640x360", "-c:v libx264 -preset ultrafast");
  const std::string second = Generate(dir, "b.h264", "320x240", "-c:v libx264 -preset ultrafast");
  const std::string joined = dir / "joined.h264";
  ASSERT_EQ(Shell("cat " + first + " " + second + " > " + joined), 0);
  ExpectAvdecsPictures(joined);
  const Decoded ours = DecodeWith(joined, kVideoDecoderFactory);
  ASSERT_EQ(ours.caps.size(), 2u);
  EXPECT_NE(ours.caps[0].find("width=(int)640"), std::string::npos) << ours.caps[0];
  EXPECT_NE(ours.caps[1].find("width=(int)320"), std::string::npos) << ours.caps[1];
  EXPECT_EQ(ours.pictures.size(), 100u);
}

// A TS cut in the middle of a GOP, as a dropped live link leaves it: the frames before the
// first keyframe never decode, are released, and the rest come out as avdec gives them.
TEST(VideoDecoderTest, SkipsWhatPrecedesTheFirstKeyframe) {
  TempDir dir;
  const std::string whole =
      Generate(dir, "whole.ts", "640x360", "-c:v libx264 -preset ultrafast -g 25 -bf 2");
  const std::string cut = dir / "cut.ts";
  // From 30 % of the file (GOPs of a second in two seconds), on a TS packet boundary.
  const auto size = std::filesystem::file_size(whole);
  const auto from = size * 3 / 10 / 188 * 188;
  ASSERT_EQ(Shell("tail -c +" + std::to_string(from + 1) + " " + whole + " > " + cut), 0);
  ExpectAvdecsPictures(cut);
  const Decoded ours = DecodeWith(cut, kVideoDecoderFactory);
  EXPECT_GT(ours.pictures.size(), 0u);
  EXPECT_LT(ours.pictures.size(), 50u);
}

// The access units of the raw H.264 stream in `path`, as h264parse cuts them, and their caps.
std::vector<GstBuffer*> AccessUnits(const std::string& path, CapsPtr& caps) {
  EnsureGstInit();
  std::vector<GstBuffer*> units;
  GError* err = nullptr;
  GstPtr<GstElement> parse(gst_parse_launch(
      ("filesrc location=" + path +
       " ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=out "
       "sync=false")
          .c_str(),
      &err));
  EXPECT_EQ(err, nullptr) << (err ? err->message : "");
  if (err != nullptr) g_error_free(err);
  if (!parse) return units;
  GstPtr<GstElement> out(gst_bin_get_by_name(GST_BIN(parse.get()), "out"));
  gst_element_set_state(parse.get(), GST_STATE_PLAYING);
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(out.get()))) {
    if (!caps) caps.reset(gst_caps_ref(gst_sample_get_caps(sample)));
    units.push_back(gst_buffer_ref(gst_sample_get_buffer(sample)));
    gst_sample_unref(sample);
  }
  gst_element_set_state(parse.get(), GST_STATE_NULL);
  return units;
}

// The NAL units from the first SPS to the first PPS of a byte-stream access unit, start codes
// included: a buffer of their own.
GstBuffer* ParameterSetsOf(GstBuffer* unit) {
  BufferMap map(unit);
  if (!map.ok()) return nullptr;
  const guint8* d = map.data();
  const gsize n = map.size();
  gsize sps = n, after_pps = n;
  bool in_pps = false;
  for (gsize i = 0; i + 3 < n; ++i) {
    if (d[i] != 0 || d[i + 1] != 0 || d[i + 2] != 1) continue;
    const gsize start = i > 0 && d[i - 1] == 0 ? i - 1 : i;  // four-byte start codes
    const int type = d[i + 3] & 0x1f;
    if (in_pps) {
      after_pps = start;
      break;
    }
    if (type == 7 && sps == n) sps = start;
    if (type == 8) in_pps = true;
  }
  if (sps == n || !in_pps) return nullptr;
  return gst_buffer_new_memdup(d + sps, after_pps - sps);
}

// A packet with no picture in it (here the stream's parameter sets alone) leaves a frame that
// never comes out. It is released (at once when libavcodec refuses the packet, as here, or once
// the decoder is 48 packets past it), not kept to the end of the stream. Each way alone passes
// this test; with neither, it fails.
TEST(VideoDecoderTest, ReleasesAFrameTheDecoderNeverReturns) {
  TempDir dir;
  const std::string clip = Generate(dir, "a.h264", "320x240", "-c:v libx264 -preset ultrafast");
  const std::string twice = dir / "twice.h264";
  ASSERT_EQ(Shell("cat " + clip + " " + clip + " > " + twice), 0);
  CapsPtr caps;
  std::vector<GstBuffer*> units = AccessUnits(twice, caps);
  ASSERT_EQ(units.size(), 100u);

  GstHarness* h = gst_harness_new(kVideoDecoderFactory);
  gst_harness_set_src_caps(h, gst_caps_ref(caps.get()));
  constexpr guint kJunkAt = 3;
  GstBuffer* junk = ParameterSetsOf(units[0]);  // before the harness takes the units
  ASSERT_NE(junk, nullptr);
  for (size_t i = 0; i < units.size(); ++i) {
    if (i == kJunkAt) {
      GST_BUFFER_PTS(junk) = GST_BUFFER_PTS(units[i]);
      ASSERT_EQ(gst_harness_push(h, junk), GST_FLOW_OK);
    }
    ASSERT_EQ(gst_harness_push(h, units[i]), GST_FLOW_OK);
  }
  GstVideoDecoder* decoder = GST_VIDEO_DECODER(h->element);
  GList* pending = gst_video_decoder_get_frames(decoder);
  bool junk_pending = false;
  for (GList* l = pending; l != nullptr; l = l->next) {
    auto* frame = static_cast<GstVideoCodecFrame*>(l->data);
    junk_pending = junk_pending || frame->system_frame_number == kJunkAt;
  }
  const guint pending_count = g_list_length(pending);
  g_list_free_full(pending, reinterpret_cast<GDestroyNotify>(gst_video_codec_frame_unref));
  EXPECT_FALSE(junk_pending);
  EXPECT_LT(pending_count, 20u);  // what libavcodec holds (its frame threads), not a backlog
  gst_harness_push_event(h, gst_event_new_eos());
  EXPECT_EQ(gst_harness_buffers_received(h), 100u);
  gst_harness_teardown(h);
}

// Hostile input: a third of the access units after the first have 16 bytes overwritten at random
// past their first NAL header (a fixed seed). libavcodec conceals or drops what it cannot decode;
// the element goes on to the end of the stream, never crashes, and gives at most a picture per
// unit.
TEST(VideoDecoderTest, SurvivesCorruptedAccessUnits) {
  TempDir dir;
  CapsPtr caps;
  std::vector<GstBuffer*> units = AccessUnits(
      Generate(dir, "b.h264", "640x360", "-c:v libx264 -preset ultrafast -bf 3 -g 12"), caps);
  ASSERT_EQ(units.size(), 50u);
  std::mt19937 random(20261203);
  GstHarness* h = gst_harness_new(kVideoDecoderFactory);
  gst_harness_set_src_caps(h, gst_caps_ref(caps.get()));
  for (size_t i = 0; i < units.size(); ++i) {
    GstBuffer* unit = gst_buffer_make_writable(units[i]);
    const gsize size = gst_buffer_get_size(unit);
    if (i > 0 && i % 3 == 1 && size > 16) {
      for (int n = 0; n < 16; ++n) {
        const gsize at = 12 + random() % (size - 12);
        const guint8 byte = static_cast<guint8>(random());
        gst_buffer_fill(unit, at, &byte, 1);
      }
    }
    EXPECT_EQ(gst_harness_push(h, unit), GST_FLOW_OK) << "unit " << i;
  }
  gst_harness_push_event(h, gst_event_new_eos());
  const guint64 pictures = gst_harness_buffers_received(h);
  EXPECT_GT(pictures, 0u);
  EXPECT_LE(pictures, 50u);
  gst_harness_teardown(h);
}

// Rank primary + 1: decodebin picks it over avdec_h264 (rank primary).
TEST(VideoDecoderTest, DecodebinPlugsItBeforeAvdec) {
  const auto plugged = testing::FactoriesDecodebinPlugs(Media("moviepy_chaplin.mp4"));
  EXPECT_NE(std::find(plugged.begin(), plugged.end(), kVideoDecoderFactory), plugged.end());
  EXPECT_EQ(std::find(plugged.begin(), plugged.end(), "avdec_h264"), plugged.end());
}

}  // namespace
}  // namespace newsreel::transcoder
