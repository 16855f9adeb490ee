#include "transcoder/video_decoder.h"

#include <algorithm>

#include <gst/gst.h>
#include <gst/video/gstvideodecoder.h>
#include <gst/video/video.h>

#include "transcoder/gst_util.h"
#include "transcoder/libav_util.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
}

GST_DEBUG_CATEGORY_STATIC(newsreel_video_decoder_debug);
#define GST_CAT_DEFAULT newsreel_video_decoder_debug

namespace newsreel::transcoder {
namespace {

// What the output caps were made from; a picture that differs renegotiates.
struct PictureShape {
  int format = AV_PIX_FMT_NONE;
  int width = 0, height = 0;
  int sar_num = 0, sar_den = 0;
  bool interlaced = false;
  bool top_field_first = false;
  bool repeat_field = false;
  bool operator==(const PictureShape&) const = default;
};

struct VideoDecoder {
  GstVideoDecoder parent;
  // While a format is set.
  AVCodecContext* context;
  AVFrame* picture;
  AVPacket* packet;
  GstVideoCodecState* input_state;
  PictureShape shape;            // of the last negotiated picture (format none: not yet)
  gboolean field_order_changed;  // interlaced, and the field order changed once: mixed
  gboolean wrap_pictures;        // downstream reads frames through GstVideoMeta (no copy)
  gint max_threads;              // property: 0 = DecoderThreads(this machine's cores)
};
struct VideoDecoderClass {
  GstVideoDecoderClass parent_class;
};

GstVideoDecoderClass* parent_class = nullptr;

constexpr char kSinkCaps[] =
    "video/x-h264, alignment=(string)au, stream-format=(string){ avc, byte-stream }; "
    "video/x-h265, alignment=(string)au, stream-format=(string){ hvc1, hev1, byte-stream }";
constexpr char kSrcCaps[] =
    "video/x-raw, format=(string){ I420, Y42B, Y444, I420_10LE, I422_10LE, Y444_10LE, "
    "I420_12LE, I422_12LE, Y444_12LE, NV12, GRAY8, GBR, GBR_10LE, GBR_12LE }";

// A frame that libavcodec never returns (a packet it could not decode, the second field of a
// picture, a frame before the first keyframe) is released once this many later packets went in:
// more than any picture can wait in the decoder (16 reordered pictures plus one per thread).
constexpr guint32 kGhostFrameDistance = 48;

GstVideoFormat GstFormatOf(int av_format) {
  switch (av_format) {
    case AV_PIX_FMT_YUV420P:
    case AV_PIX_FMT_YUVJ420P:
      return GST_VIDEO_FORMAT_I420;
    case AV_PIX_FMT_YUV422P:
    case AV_PIX_FMT_YUVJ422P:
      return GST_VIDEO_FORMAT_Y42B;
    case AV_PIX_FMT_YUV444P:
    case AV_PIX_FMT_YUVJ444P:
      return GST_VIDEO_FORMAT_Y444;
    case AV_PIX_FMT_YUV420P10LE:
      return GST_VIDEO_FORMAT_I420_10LE;
    case AV_PIX_FMT_YUV422P10LE:
      return GST_VIDEO_FORMAT_I422_10LE;
    case AV_PIX_FMT_YUV444P10LE:
      return GST_VIDEO_FORMAT_Y444_10LE;
    case AV_PIX_FMT_YUV420P12LE:
      return GST_VIDEO_FORMAT_I420_12LE;
    case AV_PIX_FMT_YUV422P12LE:
      return GST_VIDEO_FORMAT_I422_12LE;
    case AV_PIX_FMT_YUV444P12LE:
      return GST_VIDEO_FORMAT_Y444_12LE;
    case AV_PIX_FMT_NV12:
      return GST_VIDEO_FORMAT_NV12;
    case AV_PIX_FMT_GRAY8:
      return GST_VIDEO_FORMAT_GRAY8;
    case AV_PIX_FMT_GBRP:
      return GST_VIDEO_FORMAT_GBR;
    case AV_PIX_FMT_GBRP10LE:
      return GST_VIDEO_FORMAT_GBR_10LE;
    case AV_PIX_FMT_GBRP12LE:
      return GST_VIDEO_FORMAT_GBR_12LE;
    default:
      return GST_VIDEO_FORMAT_UNKNOWN;
  }
}

void CloseDecoder(VideoDecoder* self) {
  avcodec_free_context(&self->context);
  av_frame_free(&self->picture);
  av_packet_free(&self->packet);
  g_clear_pointer(&self->input_state, gst_video_codec_state_unref);
  self->shape = PictureShape{};
  self->field_order_changed = FALSE;
}

bool UpstreamIsLive(GstVideoDecoder* decoder) {
  GstQuery* query = gst_query_new_latency();
  gboolean live = FALSE;
  if (gst_pad_peer_query(GST_VIDEO_DECODER_SINK_PAD(decoder), query))
    gst_query_parse_latency(query, &live, nullptr, nullptr);
  gst_query_unref(query);
  return live;
}

// The decoding latency avdec reports: reordered pictures plus one per frame thread.
void SetLatency(VideoDecoder* self, int fps_n, int fps_d) {
  if (fps_n <= 0 || fps_d <= 0) return;
  const AVCodecContext* c = self->context;
  int frames = c->has_b_frames;
  if (c->active_thread_type & FF_THREAD_FRAME) frames += c->thread_count;
  const GstClockTime latency =
      gst_util_uint64_scale_ceil(static_cast<guint64>(frames) * GST_SECOND, fps_d, fps_n);
  gst_video_decoder_set_latency(GST_VIDEO_DECODER(self), latency, latency);
}

// The pixel aspect ratio avdec chooses between the demuxer's and the stream's: the one that is
// not 1:1, the demuxer's when both are not, 1:1 when neither is given.
void ChoosePixelAspect(const GstVideoInfo* in, const PictureShape& shape, GstVideoInfo* out) {
  const bool demuxer = in->par_n > 0 && in->par_d > 0;
  const bool stream = shape.sar_num > 0 && shape.sar_den > 0;
  const bool use_stream =
      stream && (!demuxer || (in->par_n == in->par_d && shape.sar_num != shape.sar_den));
  if (use_stream) {
    out->par_n = shape.sar_num;
    out->par_d = shape.sar_den;
  } else if (demuxer) {
    out->par_n = in->par_n;
    out->par_d = in->par_d;
  } else {
    out->par_n = out->par_d = 1;
  }
}

GstVideoChromaSite ChromaSiteOf(AVChromaLocation location) {
  switch (location) {
    case AVCHROMA_LOC_LEFT:
      return GST_VIDEO_CHROMA_SITE_MPEG2;
    case AVCHROMA_LOC_CENTER:
      return GST_VIDEO_CHROMA_SITE_JPEG;
    case AVCHROMA_LOC_TOPLEFT:
      return GST_VIDEO_CHROMA_SITE_DV;
    case AVCHROMA_LOC_TOP:
      return GST_VIDEO_CHROMA_SITE_V_COSITED;
    default:
      return GST_VIDEO_CHROMA_SITE_UNKNOWN;
  }
}

PictureShape ShapeOf(const AVFrame* picture) {
  PictureShape shape;
  shape.format = picture->format;
  shape.width = picture->width;
  shape.height = picture->height;
  shape.sar_num = picture->sample_aspect_ratio.num;
  shape.sar_den = picture->sample_aspect_ratio.den;
  shape.interlaced = picture->interlaced_frame != 0;
  shape.top_field_first = shape.interlaced && picture->top_field_first != 0;
  shape.repeat_field = shape.interlaced && picture->repeat_pict != 0;
  return shape;
}

// The frame rate: the parser's or demuxer's when it gives one (or says it varies), else the
// stream's timing information, else 25/1 (ffmpeg's assumption for raw H.264).
void ChooseFrameRate(const AVCodecContext* c, const GstVideoInfo* in, GstVideoInfo* out) {
  if ((in->fps_n > 0 && in->fps_d > 0) ||
      GST_VIDEO_INFO_FLAG_IS_SET(in, GST_VIDEO_FLAG_VARIABLE_FPS)) {
    out->fps_n = in->fps_n;
    out->fps_d = in->fps_d;
  } else if (c->framerate.num > 0 && c->framerate.den > 0 &&
             gst_util_fraction_compare(c->framerate.num, c->framerate.den, 1000, 1) <= 0) {
    out->fps_n = c->framerate.num;
    out->fps_d = c->framerate.den;
  } else {
    out->fps_n = 25;
    out->fps_d = 1;
  }
}

// Sets the output caps when `picture` is shaped differently from the last one. As avdec: what
// the parser's caps say (interlace-mode, chroma-site, each part of the colorimetry) wins, the
// decoder fills in the rest.
bool Negotiate(VideoDecoder* self, const AVFrame* picture) {
  const PictureShape shape = ShapeOf(picture);
  PictureShape& last = self->shape;
  if (last.format != AV_PIX_FMT_NONE && shape == last) return true;
  const GstVideoFormat format = GstFormatOf(shape.format);
  if (format == GST_VIDEO_FORMAT_UNKNOWN) {
    const char* name = av_get_pix_fmt_name(static_cast<AVPixelFormat>(shape.format));
    GST_ELEMENT_ERROR(self, STREAM, FORMAT, ("unsupported pixel format %s", name ? name : "?"),
                      ("the decoder gave %dx%d pictures in a format GStreamer has no name for",
                       shape.width, shape.height));
    return false;
  }
  // Interlaced, and the field order changed once: mixed from then on (avdec's rule).
  if (last.interlaced &&
      (last.top_field_first != shape.top_field_first || last.repeat_field != shape.repeat_field))
    self->field_order_changed = TRUE;
  if (!shape.interlaced) self->field_order_changed = FALSE;

  GstVideoDecoder* decoder = GST_VIDEO_DECODER(self);
  const AVCodecContext* c = self->context;
  const GstStructure* in_s = gst_caps_get_structure(self->input_state->caps, 0);
  const GstVideoInfo* in = &self->input_state->info;
  GstVideoInterlaceMode mode = in->interlace_mode;
  if (!gst_structure_has_field(in_s, "interlace-mode")) {
    mode = !shape.interlaced ? GST_VIDEO_INTERLACE_MODE_PROGRESSIVE
           : (self->field_order_changed || shape.repeat_field)
               ? GST_VIDEO_INTERLACE_MODE_MIXED
               : GST_VIDEO_INTERLACE_MODE_INTERLEAVED;
  }
  GstVideoCodecState* state = gst_video_decoder_set_output_state(decoder, format, shape.width,
                                                                 shape.height, self->input_state);
  GstVideoInfo* out = &state->info;
  out->interlace_mode = mode;
  if (!gst_structure_has_field(in_s, "interlace-mode") &&
      mode == GST_VIDEO_INTERLACE_MODE_INTERLEAVED)
    GST_VIDEO_INFO_FIELD_ORDER(out) = shape.top_field_first
                                          ? GST_VIDEO_FIELD_ORDER_TOP_FIELD_FIRST
                                          : GST_VIDEO_FIELD_ORDER_BOTTOM_FIELD_FIRST;
  if (!gst_structure_has_field(in_s, "chroma-site")) {
    const GstVideoChromaSite site = ChromaSiteOf(c->chroma_sample_location);
    if (site != GST_VIDEO_CHROMA_SITE_UNKNOWN) out->chroma_site = site;
  }
  const bool given = gst_structure_has_field(in_s, "colorimetry");
  GstVideoColorimetry& colour = out->colorimetry;
  if (!given || in->colorimetry.primaries == GST_VIDEO_COLOR_PRIMARIES_UNKNOWN)
    colour.primaries = gst_video_color_primaries_from_iso(c->color_primaries);
  if (!given || in->colorimetry.transfer == GST_VIDEO_TRANSFER_UNKNOWN)
    colour.transfer = gst_video_transfer_function_from_iso(c->color_trc);
  if (!given || in->colorimetry.matrix == GST_VIDEO_COLOR_MATRIX_UNKNOWN)
    colour.matrix = gst_video_color_matrix_from_iso(c->colorspace);
  if (!given || in->colorimetry.range == GST_VIDEO_COLOR_RANGE_UNKNOWN)
    colour.range = c->color_range == AVCOL_RANGE_JPEG   ? GST_VIDEO_COLOR_RANGE_0_255
                   : c->color_range == AVCOL_RANGE_MPEG ? GST_VIDEO_COLOR_RANGE_16_235
                                                        : GST_VIDEO_COLOR_RANGE_UNKNOWN;
  ChooseFrameRate(c, in, out);
  ChoosePixelAspect(in, shape, out);
  // Views as upstream says (2D when it says nothing), and the caps made here from all this, as
  // avdec makes them (the base class would add "multiview-mode=mono").
  GST_VIDEO_INFO_MULTIVIEW_MODE(out) = GST_VIDEO_INFO_MULTIVIEW_MODE(in);
  GST_VIDEO_INFO_MULTIVIEW_FLAGS(out) = GST_VIDEO_INFO_MULTIVIEW_FLAGS(in);
  state->caps = gst_video_info_to_caps(out);
  const int fps_n = out->fps_n, fps_d = out->fps_d;
  gst_video_codec_state_unref(state);
  if (!gst_video_decoder_negotiate(decoder)) {
    last = PictureShape{};  // try again with the next picture
    return false;
  }
  last = shape;
  SetLatency(self, fps_n, fps_d);
  return true;
}

// libavcodec's picture itself in a buffer: each plane a read-only memory that holds a reference
// to the frame and ends no later than the plane's buffer, its strides in a GstVideoMeta.
// libavcodec writes no picture it has returned (it may still read it as a reference), so
// nothing is copied: one copy of every picture less (a 1080p ladder spent 0.8 % of its CPU in
// that copy). Null when a plane cannot be wrapped.
GstBuffer* WrapPicture(const AVFrame* picture, const GstVideoInfo* info) {
  const guint planes = GST_VIDEO_INFO_N_PLANES(info);
  if (planes > AV_NUM_DATA_POINTERS) return nullptr;
  gsize offsets[GST_VIDEO_MAX_PLANES] = {};
  gint strides[GST_VIDEO_MAX_PLANES] = {};
  gsize sizes[GST_VIDEO_MAX_PLANES] = {};
  gsize total = 0;
  for (guint i = 0; i < planes; ++i) {
    const AVBufferRef* backing = av_frame_get_plane_buffer(const_cast<AVFrame*>(picture), i);
    if (picture->data[i] == nullptr || picture->linesize[i] <= 0 || backing == nullptr ||
        picture->data[i] < backing->data || picture->data[i] >= backing->data + backing->size)
      return nullptr;
    gint components[GST_VIDEO_MAX_COMPONENTS];
    gst_video_format_info_component(info->finfo, i, components);
    const int comp = components[0];
    const gsize rows = static_cast<gsize>(GST_VIDEO_INFO_COMP_HEIGHT(info, comp));
    const gsize stride = static_cast<gsize>(picture->linesize[i]);
    const gsize row_bytes = static_cast<gsize>(GST_VIDEO_INFO_COMP_WIDTH(info, comp)) *
                            static_cast<gsize>(GST_VIDEO_INFO_COMP_PSTRIDE(info, comp));
    // The memory ends where libavcodec's buffer ends when that comes first: a picture cropped
    // on the left starts inside its buffer, and its last row's stride can reach past the end
    // (HEVC with a coded height that needs no rounding). Its visible samples must fit.
    const auto left = static_cast<gsize>(backing->data + backing->size - picture->data[i]);
    if (rows == 0 || left < (rows - 1) * stride + row_bytes) return nullptr;
    sizes[i] = std::min(stride * rows, left);
    offsets[i] = total;
    strides[i] = picture->linesize[i];
    total += sizes[i];
  }
  GstBuffer* buffer = gst_buffer_new();
  for (guint i = 0; i < planes; ++i) {
    AVFrame* reference = av_frame_clone(picture);
    if (reference == nullptr) {
      gst_buffer_unref(buffer);
      return nullptr;
    }
    gst_buffer_append_memory(buffer, gst_memory_new_wrapped(
                                         GST_MEMORY_FLAG_READONLY, picture->data[i], sizes[i], 0,
                                         sizes[i], reference, +[](gpointer data) noexcept {
                                           auto* frame = static_cast<AVFrame*>(data);
                                           av_frame_free(&frame);
                                         }));
  }
  gst_buffer_add_video_meta_full(buffer, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(info),
                                 GST_VIDEO_INFO_WIDTH(info), GST_VIDEO_INFO_HEIGHT(info), planes,
                                 offsets, strides);
  return buffer;
}

// Copies the decoded picture into a buffer of the downstream pool.
GstFlowReturn CopyPicture(VideoDecoder* self, GstVideoCodecFrame* frame, const AVFrame* picture) {
  GstVideoDecoder* decoder = GST_VIDEO_DECODER(self);
  GstFlowReturn ret = gst_video_decoder_allocate_output_frame(decoder, frame);
  GstVideoCodecState* state = gst_video_decoder_get_output_state(decoder);
  GstVideoFrame out;
  if (ret == GST_FLOW_OK &&
      !gst_video_frame_map(&out, &state->info, frame->output_buffer, GST_MAP_WRITE)) {
    GST_ELEMENT_ERROR(self, RESOURCE, OPEN_READ_WRITE, ("cannot map an output picture"), (nullptr));
    ret = GST_FLOW_ERROR;
  } else if (ret == GST_FLOW_OK) {
    uint8_t* planes[4] = {};
    int strides[4] = {};
    for (guint i = 0; i < GST_VIDEO_FRAME_N_PLANES(&out) && i < 4; ++i) {
      planes[i] = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&out, i));
      strides[i] = GST_VIDEO_FRAME_PLANE_STRIDE(&out, i);
    }
    av_image_copy(planes, strides, const_cast<const uint8_t**>(picture->data), picture->linesize,
                  static_cast<AVPixelFormat>(picture->format), picture->width, picture->height);
    gst_video_frame_unmap(&out);
  }
  gst_video_codec_state_unref(state);
  return ret;
}

// Hands the decoded picture on (wrapped when downstream can read it so, else copied) and
// finishes its frame.
GstFlowReturn OutputPicture(VideoDecoder* self) {
  GstVideoDecoder* decoder = GST_VIDEO_DECODER(self);
  AVFrame* picture = self->picture;
  GstVideoCodecFrame* frame =
      picture->pts == AV_NOPTS_VALUE || picture->pts < 0
          ? nullptr
          : gst_video_decoder_get_frame(decoder, static_cast<int>(picture->pts));
  if (frame == nullptr) {
    GST_WARNING_OBJECT(self, "a decoded picture of no pending frame (%" G_GINT64_FORMAT ")",
                       static_cast<gint64>(picture->pts));
    av_frame_unref(picture);
    return GST_FLOW_OK;
  }
  if (!Negotiate(self, picture)) {
    av_frame_unref(picture);
    gst_video_decoder_release_frame(decoder, frame);
    return GST_PAD_IS_FLUSHING(GST_VIDEO_DECODER_SRC_PAD(decoder)) ? GST_FLOW_FLUSHING
                                                                   : GST_FLOW_NOT_NEGOTIATED;
  }
  GstFlowReturn ret = GST_FLOW_OK;
  GstBuffer* wrapped = nullptr;
  // A pending reconfiguration first (finish_frame would do it after the choice below), so that
  // the choice follows what downstream reads now. When it fails, the copy tries again.
  GstPad* src = GST_VIDEO_DECODER_SRC_PAD(decoder);
  if (self->wrap_pictures && gst_pad_check_reconfigure(src) &&
      !gst_video_decoder_negotiate(decoder)) {
    gst_pad_mark_reconfigure(src);
    self->wrap_pictures = FALSE;
  }
  if (self->wrap_pictures) {
    GstVideoCodecState* state = gst_video_decoder_get_output_state(decoder);
    wrapped = WrapPicture(picture, &state->info);
    gst_video_codec_state_unref(state);
  }
  if (wrapped != nullptr) {
    gst_clear_buffer(&frame->output_buffer);
    frame->output_buffer = wrapped;  // the frame owns it now
  } else {
    ret = CopyPicture(self, frame, picture);
  }
  if (ret != GST_FLOW_OK) {
    av_frame_unref(picture);
    gst_video_decoder_release_frame(decoder, frame);
    return ret;
  }
  GstBuffer* buffer = frame->output_buffer;
  if (picture->flags & AV_FRAME_FLAG_CORRUPT)
    GST_BUFFER_FLAG_SET(buffer, GST_BUFFER_FLAG_CORRUPTED);
  if (self->shape.interlaced) {
    if (picture->repeat_pict) GST_BUFFER_FLAG_SET(buffer, GST_VIDEO_BUFFER_FLAG_RFF);
    if (picture->top_field_first) GST_BUFFER_FLAG_SET(buffer, GST_VIDEO_BUFFER_FLAG_TFF);
    if (picture->interlaced_frame) GST_BUFFER_FLAG_SET(buffer, GST_VIDEO_BUFFER_FLAG_INTERLACED);
  }
  av_frame_unref(picture);
  return gst_video_decoder_finish_frame(decoder, frame);
}

// Every picture libavcodec has ready, in display order.
GstFlowReturn ReceivePictures(VideoDecoder* self) {
  for (;;) {
    const int got = avcodec_receive_frame(self->context, self->picture);
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return GST_FLOW_OK;
    if (got < 0) {
      GST_WARNING_OBJECT(self, "decoding error %d", got);
      return GST_FLOW_OK;
    }
    const GstFlowReturn ret = OutputPicture(self);
    if (ret != GST_FLOW_OK) return ret;
  }
}

// Releases the frames older than kGhostFrameDistance packets that libavcodec has not returned.
void ReleaseGhostFrames(VideoDecoder* self, guint32 newest) {
  if (newest < kGhostFrameDistance) return;
  GstVideoDecoder* decoder = GST_VIDEO_DECODER(self);
  // Most calls find none: the oldest pending frame (the list is in decoding order) tells
  // without copying the list.
  GstVideoCodecFrame* oldest = gst_video_decoder_get_oldest_frame(decoder);
  if (oldest == nullptr) return;
  const bool any = oldest->system_frame_number + kGhostFrameDistance < newest;
  gst_video_codec_frame_unref(oldest);
  if (!any) return;
  GList* frames = gst_video_decoder_get_frames(decoder);
  for (GList* l = frames; l != nullptr; l = l->next) {
    auto* frame = static_cast<GstVideoCodecFrame*>(l->data);
    if (frame->system_frame_number + kGhostFrameDistance < newest) {
      GST_LOG_OBJECT(self, "releasing frame %u: the decoder never returned it",
                     frame->system_frame_number);
      gst_video_decoder_release_frame(decoder, frame);
    } else {
      gst_video_codec_frame_unref(frame);
    }
  }
  g_list_free(frames);
}

// Sends what the decoder holds out, then readies it for more input.
GstFlowReturn Drain(GstVideoDecoder* decoder) {
  auto* self = reinterpret_cast<VideoDecoder*>(decoder);
  if (self->context == nullptr) return GST_FLOW_OK;
  GstFlowReturn ret = GST_FLOW_OK;
  if (avcodec_send_packet(self->context, nullptr) == 0) ret = ReceivePictures(self);
  avcodec_flush_buffers(self->context);
  return ret;
}

gboolean SetFormat(GstVideoDecoder* decoder, GstVideoCodecState* state) {
  auto* self = reinterpret_cast<VideoDecoder*>(decoder);
  if (self->input_state != nullptr && gst_caps_is_equal(self->input_state->caps, state->caps))
    return TRUE;
  Drain(decoder);
  CloseDecoder(self);

  const GstStructure* s = gst_caps_get_structure(state->caps, 0);
  const bool hevc = gst_structure_has_name(s, "video/x-h265");
  const AVCodec* codec = avcodec_find_decoder(hevc ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264);
  if (codec == nullptr) {
    GST_ELEMENT_ERROR(self, LIBRARY, INIT,
                      ("libavcodec has no %s decoder", hevc ? "HEVC" : "H.264"), (nullptr));
    return FALSE;
  }
  self->context = avcodec_alloc_context3(codec);
  self->picture = av_frame_alloc();
  self->packet = av_packet_alloc();
  if (self->context == nullptr || self->picture == nullptr || self->packet == nullptr) {
    CloseDecoder(self);
    return FALSE;
  }
  AVCodecContext* c = self->context;
  if (!SetExtradata(c, state->codec_data)) {
    CloseDecoder(self);
    return FALSE;
  }
  // avdec's settings: encoder bugs worked around as detected, CRCs checked where there are any.
  c->workaround_bugs |= FF_BUG_AUTODETECT;
  c->err_recognition = AV_EF_CRCCHECK;
  c->thread_count = self->max_threads > 0 ? self->max_threads : DecoderThreads(MachineCores());
  c->thread_type = UpstreamIsLive(decoder) ? FF_THREAD_SLICE : FF_THREAD_FRAME | FF_THREAD_SLICE;
  const int opened = avcodec_open2(c, codec, nullptr);
  if (opened < 0) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("cannot open the %s decoder", codec->name),
                      ("%s", AvErrorText(opened).c_str()));
    CloseDecoder(self);
    return FALSE;
  }
  self->input_state = gst_video_codec_state_ref(state);
  SetLatency(self, state->info.fps_n, state->info.fps_d);
  return TRUE;
}

GstFlowReturn HandleFrame(GstVideoDecoder* decoder, GstVideoCodecFrame* frame) {
  auto* self = reinterpret_cast<VideoDecoder*>(decoder);
  if (self->context == nullptr) {
    gst_video_decoder_release_frame(decoder, frame);
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("data before the format"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  const guint32 number = frame->system_frame_number;
  AVPacket* packet = self->packet;
  const bool filled = FillPacket(packet, frame->input_buffer);
  if (!filled) {
    GST_WARNING_OBJECT(self, "frame %u: no data to decode", number);
    gst_video_decoder_release_frame(decoder, frame);
    return GST_FLOW_OK;
  }
  packet->pts = number;  // comes back as the picture's pts, in display order
  if (GST_VIDEO_CODEC_FRAME_IS_SYNC_POINT(frame)) packet->flags |= AV_PKT_FLAG_KEY;
  gst_video_codec_frame_unref(frame);  // the base class keeps it among the pending frames

  int sent = avcodec_send_packet(self->context, packet);
  GstFlowReturn ret = GST_FLOW_OK;
  if (sent == AVERROR(EAGAIN)) {
    ret = ReceivePictures(self);
    sent = avcodec_send_packet(self->context, packet);
  }
  av_packet_unref(packet);
  if (sent < 0) {
    GST_WARNING_OBJECT(self, "frame %u: libavcodec refused it: %s", number,
                       AvErrorText(sent).c_str());
    if (GstVideoCodecFrame* refused =
            gst_video_decoder_get_frame(decoder, static_cast<int>(number)))
      gst_video_decoder_release_frame(decoder, refused);
  }
  if (ret == GST_FLOW_OK) ret = ReceivePictures(self);
  ReleaseGhostFrames(self, number);
  return ret;
}

gboolean Flush(GstVideoDecoder* decoder) {
  auto* self = reinterpret_cast<VideoDecoder*>(decoder);
  if (self->context != nullptr) avcodec_flush_buffers(self->context);
  return TRUE;
}

gboolean Stop(GstVideoDecoder* decoder) {
  CloseDecoder(reinterpret_cast<VideoDecoder*>(decoder));
  return TRUE;
}

void Finalize(GObject* object) {
  CloseDecoder(reinterpret_cast<VideoDecoder*>(object));
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

// Pictures are wrapped, not copied, when every element downstream reads video frames through
// GstVideoMeta (their strides are libavcodec's, not GStreamer's defaults).
gboolean DecideAllocation(GstVideoDecoder* decoder, GstQuery* query) {
  auto* self = reinterpret_cast<VideoDecoder*>(decoder);
  self->wrap_pictures = gst_query_find_allocation_meta(query, GST_VIDEO_META_API_TYPE, nullptr);
  GST_DEBUG_OBJECT(self, "pictures are %s", self->wrap_pictures ? "wrapped" : "copied");
  return parent_class->decide_allocation(decoder, query);
}

void InstanceInit(GTypeInstance* instance, gpointer) {
  auto* self = reinterpret_cast<VideoDecoder*>(instance);
  self->context = nullptr;
  self->picture = nullptr;
  self->packet = nullptr;
  self->input_state = nullptr;
  new (&self->shape) PictureShape();
  self->field_order_changed = FALSE;
  self->wrap_pictures = FALSE;
  self->max_threads = 0;
  GstVideoDecoder* decoder = GST_VIDEO_DECODER(self);
  gst_video_decoder_set_packetized(decoder, TRUE);
  gst_video_decoder_set_needs_format(decoder, TRUE);
  gst_video_decoder_set_use_default_pad_acceptcaps(decoder, TRUE);
  GST_PAD_SET_ACCEPT_TEMPLATE(GST_VIDEO_DECODER_SINK_PAD(decoder));
}

enum { kPropMaxThreads = 1 };

void SetProperty(GObject* object, guint id, const GValue* value, GParamSpec* spec) {
  if (id == kPropMaxThreads)
    reinterpret_cast<VideoDecoder*>(object)->max_threads = g_value_get_int(value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
}

void GetProperty(GObject* object, guint id, GValue* value, GParamSpec* spec) {
  if (id == kPropMaxThreads)
    g_value_set_int(value, reinterpret_cast<VideoDecoder*>(object)->max_threads);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
}

void ClassInit(gpointer klass, gpointer) {
  parent_class = static_cast<GstVideoDecoderClass*>(g_type_class_peek_parent(klass));
  GObjectClass* object = G_OBJECT_CLASS(klass);
  object->finalize = Finalize;
  object->set_property = SetProperty;
  object->get_property = GetProperty;
  g_object_class_install_property(
      object, kPropMaxThreads,
      g_param_spec_int(
          "max-threads", "max-threads",
          "decoding threads (0: DecoderThreads, a quarter of the cores); read when the "
          "stream's format is set",
          0, 64, 0, static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  GstElementClass* element = GST_ELEMENT_CLASS(klass);
  AddAlwaysPads(element, kSinkCaps, kSrcCaps);
  gst_element_class_set_static_metadata(element, "H.264 and HEVC decoder (libavcodec)",
                                        "Codec/Decoder/Video",
                                        "libavcodec's H.264 and HEVC decoders", "newsreel");
  GstVideoDecoderClass* video = GST_VIDEO_DECODER_CLASS(klass);
  video->stop = Stop;
  video->set_format = SetFormat;
  video->handle_frame = HandleFrame;
  video->flush = Flush;
  video->drain = Drain;
  video->finish = Drain;
  video->decide_allocation = DecideAllocation;
}

}  // namespace

void RegisterVideoDecoder() {
  static const gboolean registered = [] {
    GST_DEBUG_CATEGORY_INIT(newsreel_video_decoder_debug, "newsreelvideodec", 0,
                            "libavcodec H.264 and HEVC decoder");
    return RegisterElementType(GST_TYPE_VIDEO_DECODER, "NewsreelVideoDecoder", kVideoDecoderFactory,
                               sizeof(VideoDecoderClass), ClassInit, sizeof(VideoDecoder),
                               InstanceInit, GST_RANK_PRIMARY + 1);
  }();
  (void)registered;
}

}  // namespace newsreel::transcoder
