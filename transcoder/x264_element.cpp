#include "transcoder/x264_element.h"

#include <gst/gst.h>
#include <gst/pbutils/codec-utils.h>
#include <gst/video/gstvideoencoder.h>
#include <gst/video/video.h>

#include <algorithm>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "transcoder/gst_util.h"

extern "C" {
#include <x264.h>
}

GST_DEBUG_CATEGORY_STATIC(newsreel_x264_debug);
#define GST_CAT_DEFAULT newsreel_x264_debug

namespace newsreel::transcoder {
namespace {

struct X264Element {
  GstVideoEncoder parent;
  // Properties. A negative number or a null string leaves the preset's value.
  gchar* speed_preset;
  gchar* tune;
  guint bitrate;           // kbit/s
  guint vbv_buf_capacity;  // milliseconds of the bitrate
  guint key_int_max;       // 0: ten seconds of frames
  gboolean byte_stream;
  gint threads;
  gint sync_lookahead;
  gint bframes;
  gint rc_lookahead;
  gint b_pyramid;
  gchar* option_string;
  // While running.
  GstVideoCodecState* input_state;
  x264_t* encoder;
};
struct X264ElementClass {
  GstVideoEncoderClass parent_class;
};

GstVideoEncoderClass* parent_class = nullptr;

enum Property : guint {
  kSpeedPreset = 1,
  kTune,
  kBitrate,
  kVbvBufCapacity,
  kKeyIntMax,
  kByteStream,
  kThreads,
  kSyncLookahead,
  kBFrames,
  kRcLookahead,
  kBPyramid,
  kOptionString,
};

constexpr char kSinkCaps[] =
    "video/x-raw, format=(string)I420, width=(int)[16, 16384], height=(int)[16, 16384], "
    "framerate=(fraction)[0/1, 2147483647/1]";
constexpr char kSrcCaps[] =
    "video/x-h264, stream-format=(string)byte-stream, alignment=(string)au, "
    "profile=(string){ high, main, constrained-baseline, baseline }";

// x264's messages go to GStreamer's log, never to stderr: a successful run prints nothing.
void Log(void* element, int level, const char* format, va_list args) {
  if (level > X264_LOG_WARNING) return;
  char text[512];
  std::vsnprintf(text, sizeof text, format, args);
  size_t n = std::strlen(text);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = '\0';
  GST_CAT_LEVEL_LOG(newsreel_x264_debug,
                    level == X264_LOG_ERROR ? GST_LEVEL_ERROR : GST_LEVEL_WARNING, element, "%s",
                    text);
}

// "key=value:key=value", as x264enc's option-string. False (and a log line) on the first name
// or value x264 does not take.
bool ParseOptions(X264Element* self, x264_param_t* params, const std::string& options) {
  bool ok = true;
  gchar** pairs = g_strsplit(options.c_str(), ":", 0);
  for (gchar** pair = pairs; *pair != nullptr; ++pair) {
    if (**pair == '\0') continue;
    gchar** kv = g_strsplit(*pair, "=", 2);
    const int result = x264_param_parse(params, kv[0], kv[1]);
    if (result != 0) {
      GST_ERROR_OBJECT(self, "x264 does not take the option %s=%s", kv[0],
                       kv[1] != nullptr ? kv[1] : "");
      ok = false;
    }
    g_strfreev(kv);
  }
  g_strfreev(pairs);
  return ok;
}

// The profile and level the downstream caps fix, if they fix one.
void PeerProfile(X264Element* self, std::string* profile, std::string* level) {
  GstCaps* allowed = gst_pad_get_allowed_caps(GST_VIDEO_ENCODER_SRC_PAD(self));
  if (allowed == nullptr) return;
  if (!gst_caps_is_empty(allowed)) {
    const GstStructure* s = gst_caps_get_structure(allowed, 0);
    if (const char* p = gst_structure_get_string(s, "profile")) *profile = p;
    if (const char* l = gst_structure_get_string(s, "level")) *level = l;
  }
  gst_caps_unref(allowed);
  if (*profile == "constrained-baseline") *profile = "baseline";
}

void CloseEncoder(X264Element* self) {
  if (self->encoder != nullptr) x264_encoder_close(self->encoder);
  self->encoder = nullptr;
}

// The same parameters, in the same order, as x264enc's init_encoder for 8-bit I420 in ABR.
bool OpenEncoder(X264Element* self) {
  CloseEncoder(self);
  const GstVideoInfo* info = &self->input_state->info;
  x264_param_t p;
  const char* preset =
      self->speed_preset != nullptr && *self->speed_preset ? self->speed_preset : nullptr;
  const char* tune = self->tune != nullptr && *self->tune ? self->tune : nullptr;
  if (x264_param_default_preset(&p, preset, tune) < 0) {
    GST_ELEMENT_ERROR(
        self, LIBRARY, SETTINGS,
        ("x264 has no preset '%s' or tune '%s'", preset ? preset : "", tune ? tune : ""),
        (nullptr));
    return false;
  }
  p.pf_log = Log;
  p.p_log_private = self;
  p.i_log_level = X264_LOG_WARNING;
  p.b_aud = 1;
  p.b_annexb = self->byte_stream;
  p.i_timebase_num = 1;
  p.i_timebase_den = GST_SECOND;
  std::string set;  // the properties given, as x264enc appends them after the option string
  if (self->threads >= 0) set += ":threads=" + std::to_string(self->threads);
  if (self->sync_lookahead >= 0) set += ":sync-lookahead=" + std::to_string(self->sync_lookahead);
  set += std::string(":annexb=") + (self->byte_stream ? "1" : "0");
  if (self->key_int_max > 0) set += ":keyint=" + std::to_string(self->key_int_max);
  if (self->bframes >= 0) set += ":bframes=" + std::to_string(self->bframes);
  if (self->rc_lookahead >= 0) set += ":rc-lookahead=" + std::to_string(self->rc_lookahead);
  if (self->b_pyramid >= 0)
    set += std::string(":b-pyramid=") + (self->b_pyramid ? "normal" : "none");
  if (!ParseOptions(self, &p, self->option_string != nullptr ? self->option_string : "") ||
      !ParseOptions(self, &p, set)) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("bad x264 options"),
                      ("option-string '%s', properties '%s'",
                       self->option_string ? self->option_string : "", set.c_str()));
    return false;
  }
  p.i_bitdepth = 8;
  p.i_csp = X264_CSP_I420;
  // key-int-max, when given, reached x264 with the properties above.
  p.b_vfr_input = info->fps_n == 0 || info->fps_d == 0;
  if (!p.b_vfr_input) {
    p.i_fps_num = static_cast<uint32_t>(info->fps_n);
    p.i_fps_den = static_cast<uint32_t>(info->fps_d);
    if (self->key_int_max == 0) p.i_keyint_max = 10 * info->fps_n / info->fps_d;
  }
  p.i_width = info->width;
  p.i_height = info->height;
  if (info->par_d > 0) {
    p.vui.i_sar_width = info->par_n;
    p.vui.i_sar_height = info->par_d;
  }
  const bool pal =
      ((info->height == 576 && (info->width == 720 || info->width == 704 || info->width == 352)) ||
       (info->height == 288 && info->width == 352)) &&
      info->fps_d == 1 && info->fps_n == 25;
  const bool ntsc =
      ((info->height == 480 && (info->width == 720 || info->width == 704 || info->width == 352)) ||
       (info->height == 240 && info->width == 352)) &&
      info->fps_d == 1001 && (info->fps_n == 30000 || info->fps_n == 24000);
  p.vui.i_vidformat = pal ? 1 : ntsc ? 2 : 5;
  p.vui.i_colorprim =
      static_cast<int>(gst_video_color_primaries_to_iso(info->colorimetry.primaries));
  p.vui.i_transfer =
      static_cast<int>(gst_video_transfer_function_to_iso(info->colorimetry.transfer));
  p.vui.i_colmatrix = static_cast<int>(gst_video_color_matrix_to_iso(info->colorimetry.matrix));
  p.vui.b_fullrange = info->colorimetry.range == GST_VIDEO_COLOR_RANGE_0_255 ? 1 : 0;
  switch (info->chroma_site) {
    case GST_VIDEO_CHROMA_SITE_JPEG:
      p.vui.i_chroma_loc = 1;
      break;
    case GST_VIDEO_CHROMA_SITE_V_COSITED:
      p.vui.i_chroma_loc = 3;
      break;
    case GST_VIDEO_CHROMA_SITE_DV:
      p.vui.i_chroma_loc = 2;
      break;
    default:
      p.vui.i_chroma_loc = 0;
      break;
  }
  p.analyse.b_psnr = 0;
  p.rc.i_rc_method = X264_RC_ABR;
  p.rc.i_bitrate = static_cast<int>(self->bitrate);
  p.rc.i_vbv_max_bitrate = static_cast<int>(self->bitrate);
  p.rc.i_vbv_buffer_size = static_cast<int>(self->bitrate * self->vbv_buf_capacity / 1000);
  p.rc.b_stat_read = 0;
  p.rc.b_stat_write = 0;
  std::string profile, level;
  PeerProfile(self, &profile, &level);
  if (!profile.empty() && x264_param_apply_profile(&p, profile.c_str()) < 0)
    GST_WARNING_OBJECT(self, "x264 cannot apply the downstream profile %s", profile.c_str());
  if (!level.empty()) p.i_level_idc = gst_codec_utils_h264_get_level_idc(level.c_str());
  p.b_interlaced = GST_VIDEO_INFO_IS_INTERLACED(info);
  if (p.b_interlaced) {
    p.b_pic_struct = GST_VIDEO_INFO_INTERLACE_MODE(info) == GST_VIDEO_INTERLACE_MODE_MIXED;
    p.b_tff = GST_VIDEO_INFO_FIELD_ORDER(info) == GST_VIDEO_FIELD_ORDER_TOP_FIELD_FIRST;
  }
  self->encoder = x264_encoder_open(&p);
  if (self->encoder == nullptr) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("x264 cannot open an encoder with these settings"),
                      ("%dx%d, %u kbit/s", info->width, info->height, self->bitrate));
    return false;
  }
  return true;
}

// Output caps with the profile and level of the SPS x264 will write.
bool SetOutputState(X264Element* self) {
  x264_nal_t* nals = nullptr;
  int count = 0;
  if (x264_encoder_headers(self->encoder, &nals, &count) < 0) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("x264 wrote no stream headers"), (nullptr));
    return false;
  }
  const uint8_t* sps = nullptr;
  guint sps_size = 0;
  for (int i = 0; i < count; ++i) {
    if (nals[i].i_type != NAL_SPS) continue;
    const uint8_t* start = nals[i].p_payload;
    const int code = start[2] == 1 ? 3 : 4;  // start code
    if (nals[i].i_payload <= code + 1) break;
    sps = start + code + 1;  // after the NAL header
    sps_size = static_cast<guint>(nals[i].i_payload - code - 1);
  }
  if (sps == nullptr) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("x264 wrote no SPS"), (nullptr));
    return false;
  }
  GstCaps* caps =
      gst_caps_from_string("video/x-h264, stream-format=(string)byte-stream, alignment=(string)au");
  gst_codec_utils_h264_caps_set_level_and_profile(caps, sps, sps_size);
  GstVideoCodecState* out =
      gst_video_encoder_set_output_state(GST_VIDEO_ENCODER(self), caps, self->input_state);
  gst_video_codec_state_unref(out);
  const GstVideoInfo* info = &self->input_state->info;
  const int delayed = x264_encoder_maximum_delayed_frames(self->encoder);
  if (info->fps_n > 0 && info->fps_d > 0) {
    const GstClockTime latency = gst_util_uint64_scale_ceil(
        GST_SECOND * static_cast<guint64>(info->fps_d), static_cast<guint64>(delayed),
        static_cast<guint64>(info->fps_n));
    gst_video_encoder_set_latency(GST_VIDEO_ENCODER(self), latency, latency);
  }
  return true;
}

// Hands x264's output picture, if any, to the frame it came from.
GstFlowReturn Output(X264Element* self, const x264_nal_t* nals, int count, int size,
                     const x264_picture_t& out) {
  if (count == 0 || size <= 0) return GST_FLOW_OK;
  GstVideoCodecFrame* frame = gst_video_encoder_get_frame(
      GST_VIDEO_ENCODER(self), static_cast<int>(GPOINTER_TO_UINT(out.opaque)));
  if (frame == nullptr) {
    GST_WARNING_OBJECT(self, "x264 returned a picture for a frame that is gone");
    return GST_FLOW_OK;
  }
  frame->output_buffer = gst_buffer_new_memdup(nals[0].p_payload, static_cast<gsize>(size));
  frame->pts = static_cast<GstClockTime>(out.i_pts);
  frame->dts = static_cast<GstClockTime>(out.i_dts);
  if (out.b_keyframe) GST_VIDEO_CODEC_FRAME_SET_SYNC_POINT(frame);
  return gst_video_encoder_finish_frame(GST_VIDEO_ENCODER(self), frame);
}

GstFlowReturn Drain(X264Element* self) {
  GstFlowReturn ret = GST_FLOW_OK;
  while (self->encoder != nullptr && ret == GST_FLOW_OK &&
         x264_encoder_delayed_frames(self->encoder) > 0) {
    x264_nal_t* nals = nullptr;
    int count = 0;
    x264_picture_t out;
    const int size = x264_encoder_encode(self->encoder, &nals, &count, nullptr, &out);
    if (size < 0) {
      GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("x264 failed to encode"), ("code %d", size));
      return GST_FLOW_ERROR;
    }
    ret = Output(self, nals, count, size, out);
  }
  return ret;
}

gboolean Start(GstVideoEncoder* encoder) {
  // Room for the first DTS before the first PTS, as x264enc leaves.
  gst_video_encoder_set_min_pts(encoder, GST_SECOND * 60 * 60 * 1000);
  return TRUE;
}

gboolean Stop(GstVideoEncoder* encoder) {
  auto* self = reinterpret_cast<X264Element*>(encoder);
  CloseEncoder(self);
  if (self->input_state != nullptr) gst_video_codec_state_unref(self->input_state);
  self->input_state = nullptr;
  return TRUE;
}

gboolean SetFormat(GstVideoEncoder* encoder, GstVideoCodecState* state) {
  auto* self = reinterpret_cast<X264Element*>(encoder);
  if (self->encoder != nullptr && Drain(self) != GST_FLOW_OK) return FALSE;
  if (self->input_state != nullptr) gst_video_codec_state_unref(self->input_state);
  self->input_state = gst_video_codec_state_ref(state);
  return OpenEncoder(self) && SetOutputState(self);
}

// A frame's A/53 closed captions (GstVideoCaptionMeta, CEA-708 raw: cc_data triplets) into its
// picture's SEI, as x264enc writes them: user data registered by ITU-T T.35 (United States,
// ATSC), "GA94", cc_data with its count, em_data and marker bits (ATSC A/53 part 4). x264 frees
// each payload and the list with sei_free once it has written them.
void AddCaptions(GstBuffer* buffer, x264_picture_t* in) {
  gpointer state = nullptr;
  while (GstMeta* meta =
             gst_buffer_iterate_meta_filtered(buffer, &state, GST_VIDEO_CAPTION_META_API_TYPE)) {
    const auto* cc = reinterpret_cast<const GstVideoCaptionMeta*>(meta);
    if (cc->caption_type != GST_VIDEO_CAPTION_TYPE_CEA708_RAW || cc->size < 3) continue;
    const gsize triplets = std::min<gsize>(cc->size / 3, 31);  // cc_count has five bits
    const gsize size = 11 + 3 * triplets;
    auto* payload = static_cast<uint8_t*>(g_malloc(size));
    const uint8_t header[] = {
        0xB5, 0x00, 0x31, 'G', 'A', '9', '4', 0x03, static_cast<uint8_t>(0x40 | triplets), 0xFF};
    std::memcpy(payload, header, sizeof header);
    std::memcpy(payload + sizeof header, cc->data, 3 * triplets);
    payload[size - 1] = 0xFF;
    const int n = in->extra_sei.num_payloads;
    in->extra_sei.payloads = static_cast<x264_sei_payload_t*>(
        g_realloc(in->extra_sei.payloads, sizeof(x264_sei_payload_t) * (n + 1)));
    in->extra_sei.payloads[n].payload_size = static_cast<int>(size);
    in->extra_sei.payloads[n].payload_type = 4;  // user_data_registered_itu_t_t35
    in->extra_sei.payloads[n].payload = payload;
    in->extra_sei.num_payloads = n + 1;
    in->extra_sei.sei_free = g_free;
  }
}

GstFlowReturn HandleFrame(GstVideoEncoder* encoder, GstVideoCodecFrame* frame) {
  auto* self = reinterpret_cast<X264Element*>(encoder);
  if (self->encoder == nullptr) {
    gst_video_codec_frame_unref(frame);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  GstVideoFrame video;
  if (!gst_video_frame_map(&video, &self->input_state->info, frame->input_buffer, GST_MAP_READ)) {
    gst_video_codec_frame_unref(frame);
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("cannot read a frame to encode"), (nullptr));
    return GST_FLOW_ERROR;
  }
  x264_picture_t in;
  x264_picture_init(&in);
  in.img.i_csp = X264_CSP_I420;
  in.img.i_plane = 3;
  for (int i = 0; i < 3; ++i) {
    in.img.plane[i] = static_cast<uint8_t*>(GST_VIDEO_FRAME_COMP_DATA(&video, i));
    in.img.i_stride[i] = GST_VIDEO_FRAME_COMP_STRIDE(&video, i);
  }
  in.i_type = GST_VIDEO_CODEC_FRAME_IS_FORCE_KEYFRAME(frame) ? X264_TYPE_IDR : X264_TYPE_AUTO;
  AddCaptions(frame->input_buffer, &in);
  in.i_pts = static_cast<int64_t>(frame->pts);
  in.opaque = GUINT_TO_POINTER(frame->system_frame_number);
  x264_nal_t* nals = nullptr;
  int count = 0;
  x264_picture_t out;
  const int size = x264_encoder_encode(self->encoder, &nals, &count, &in, &out);
  gst_video_frame_unmap(&video);
  // x264 has copied the picture: the frame's memory goes back to its pool now, not when its
  // encoded picture comes out a dozen frames later.
  gst_buffer_replace(&frame->input_buffer, nullptr);
  if (size < 0) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("x264 failed to encode"), ("code %d", size));
    gst_video_encoder_finish_frame(encoder, frame);  // dropped: no output buffer
    return GST_FLOW_ERROR;
  }
  gst_video_codec_frame_unref(frame);
  return Output(self, nals, count, size, out);
}

GstFlowReturn Finish(GstVideoEncoder* encoder) {
  return Drain(reinterpret_cast<X264Element*>(encoder));
}

gboolean Flush(GstVideoEncoder* encoder) {
  auto* self = reinterpret_cast<X264Element*>(encoder);
  CloseEncoder(self);  // the base class drops the frames it holds
  return self->input_state == nullptr || OpenEncoder(self);
}

gboolean ProposeAllocation(GstVideoEncoder* encoder, GstQuery* query) {
  gst_query_add_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  return parent_class->propose_allocation(encoder, query);
}

void SetString(gchar** field, const GValue* value) {
  g_free(*field);
  *field = g_value_dup_string(value);
}

void SetProperty(GObject* object, guint id, const GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<X264Element*>(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case kSpeedPreset:
      SetString(&self->speed_preset, value);
      break;
    case kTune:
      SetString(&self->tune, value);
      break;
    case kBitrate:
      self->bitrate = g_value_get_uint(value);
      break;
    case kVbvBufCapacity:
      self->vbv_buf_capacity = g_value_get_uint(value);
      break;
    case kKeyIntMax:
      self->key_int_max = g_value_get_uint(value);
      break;
    case kByteStream:
      self->byte_stream = g_value_get_boolean(value);
      break;
    case kThreads:
      self->threads = g_value_get_int(value);
      break;
    case kSyncLookahead:
      self->sync_lookahead = g_value_get_int(value);
      break;
    case kBFrames:
      self->bframes = g_value_get_int(value);
      break;
    case kRcLookahead:
      self->rc_lookahead = g_value_get_int(value);
      break;
    case kBPyramid:
      self->b_pyramid = g_value_get_boolean(value) ? 1 : 0;
      break;
    case kOptionString:
      SetString(&self->option_string, value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

void GetProperty(GObject* object, guint id, GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<X264Element*>(object);
  GST_OBJECT_LOCK(self);
  switch (id) {
    case kSpeedPreset:
      g_value_set_string(value, self->speed_preset);
      break;
    case kTune:
      g_value_set_string(value, self->tune);
      break;
    case kBitrate:
      g_value_set_uint(value, self->bitrate);
      break;
    case kVbvBufCapacity:
      g_value_set_uint(value, self->vbv_buf_capacity);
      break;
    case kKeyIntMax:
      g_value_set_uint(value, self->key_int_max);
      break;
    case kByteStream:
      g_value_set_boolean(value, self->byte_stream);
      break;
    case kThreads:
      g_value_set_int(value, self->threads);
      break;
    case kSyncLookahead:
      g_value_set_int(value, self->sync_lookahead);
      break;
    case kBFrames:
      g_value_set_int(value, self->bframes);
      break;
    case kRcLookahead:
      g_value_set_int(value, self->rc_lookahead);
      break;
    case kBPyramid:
      g_value_set_boolean(value, self->b_pyramid > 0);
      break;
    case kOptionString:
      g_value_set_string(value, self->option_string);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
      break;
  }
  GST_OBJECT_UNLOCK(self);
}

void Finalize(GObject* object) {
  auto* self = reinterpret_cast<X264Element*>(object);
  CloseEncoder(self);
  if (self->input_state != nullptr) gst_video_codec_state_unref(self->input_state);
  g_free(self->speed_preset);
  g_free(self->tune);
  g_free(self->option_string);
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

void InstanceInit(GTypeInstance* instance, gpointer) {
  auto* self = reinterpret_cast<X264Element*>(instance);
  self->speed_preset = g_strdup("medium");
  self->tune = nullptr;
  self->bitrate = 2048;
  self->vbv_buf_capacity = 600;
  self->key_int_max = 0;
  self->byte_stream = TRUE;
  self->threads = -1;
  self->sync_lookahead = -1;
  self->bframes = -1;
  self->rc_lookahead = -1;
  self->b_pyramid = -1;
  self->option_string = nullptr;
  self->input_state = nullptr;
  self->encoder = nullptr;
}

GParamSpec* IntSpec(const char* name, const char* blurb, int max) {
  return g_param_spec_int(name, name, blurb, -1, max, -1,
                          static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}

void ClassInit(gpointer klass, gpointer) {
  parent_class = static_cast<GstVideoEncoderClass*>(g_type_class_peek_parent(klass));
  GObjectClass* object = G_OBJECT_CLASS(klass);
  object->set_property = SetProperty;
  object->get_property = GetProperty;
  object->finalize = Finalize;
  const auto rw = static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS);
  g_object_class_install_property(
      object, kSpeedPreset,
      g_param_spec_string("speed-preset", "speed-preset", "x264 preset", "medium", rw));
  g_object_class_install_property(
      object, kTune, g_param_spec_string("tune", "tune", "x264 tune (empty: none)", nullptr, rw));
  g_object_class_install_property(
      object, kBitrate,
      g_param_spec_uint("bitrate", "bitrate", "kbit/s, ABR", 1, 2000 * 1024, 2048, rw));
  g_object_class_install_property(
      object, kVbvBufCapacity,
      g_param_spec_uint("vbv-buf-capacity", "vbv-buf-capacity", "VBV buffer, ms of the bitrate", 0,
                        10000, 600, rw));
  g_object_class_install_property(
      object, kKeyIntMax,
      g_param_spec_uint("key-int-max", "key-int-max", "frames between IDRs (0: ten seconds)", 0,
                        G_MAXINT, 0, rw));
  g_object_class_install_property(
      object, kByteStream,
      g_param_spec_boolean("byte-stream", "byte-stream", "annex-B start codes", TRUE, rw));
  g_object_class_install_property(object, kThreads,
                                  IntSpec("threads", "x264 threads (-1: preset)", 256));
  g_object_class_install_property(object, kSyncLookahead,
                                  IntSpec("sync-lookahead", "threaded lookahead frames", 250));
  g_object_class_install_property(object, kBFrames, IntSpec("bframes", "B-frames", 16));
  g_object_class_install_property(object, kRcLookahead,
                                  IntSpec("rc-lookahead", "rate-control lookahead", 250));
  g_object_class_install_property(
      object, kBPyramid,
      g_param_spec_boolean("b-pyramid", "b-pyramid", "B-frames as references (unset: preset)",
                           FALSE, rw));
  g_object_class_install_property(object, kOptionString,
                                  g_param_spec_string("option-string", "option-string",
                                                      "x264 key=value:key=value", nullptr, rw));
  GstElementClass* element = GST_ELEMENT_CLASS(klass);
  AddAlwaysPads(element, kSinkCaps, kSrcCaps);
  gst_element_class_set_static_metadata(
      element, "libx264 H.264 encoder", "Codec/Encoder/Video",
      "H.264 with libx264; each input frame released once x264 has copied it", "newsreel");
  GstVideoEncoderClass* video = GST_VIDEO_ENCODER_CLASS(klass);
  video->start = Start;
  video->stop = Stop;
  video->set_format = SetFormat;
  video->handle_frame = HandleFrame;
  video->finish = Finish;
  video->flush = Flush;
  video->propose_allocation = ProposeAllocation;
  video->transform_meta = nullptr;  // the input buffer is gone by the time a frame is finished
}

}  // namespace

void RegisterX264Element() {
  static const gboolean registered = [] {
    GST_DEBUG_CATEGORY_INIT(newsreel_x264_debug, "newsreelx264", 0, "libx264 encoder");
    return RegisterElementType(GST_TYPE_VIDEO_ENCODER, "NewsreelX264", kX264Factory,
                               sizeof(X264ElementClass), ClassInit, sizeof(X264Element),
                               InstanceInit);
  }();
  (void)registered;
}

}  // namespace newsreel::transcoder
