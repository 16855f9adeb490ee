#include "transcoder/aac_encoder.h"

#include <gst/audio/audio.h>
#include <gst/audio/gstaudioencoder.h>
#include <gst/base/gstbytereader.h>
#include <gst/gst.h>
#include <gst/pbutils/codec-utils.h>

#include <cstring>

#include "transcoder/gst_util.h"
#include "transcoder/libav_util.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
}

GST_DEBUG_CATEGORY_STATIC(newsreel_aac_debug);
#define GST_CAT_DEFAULT newsreel_aac_debug

namespace newsreel::transcoder {
namespace {

struct AacEncoder {
  GstAudioEncoder parent;
  gint bitrate;  // bit/s
  // While running.
  AVCodecContext* context;
  AVFrame* frame;
  AVPacket* packet;
  // libavcodec's AAC encoder cannot be flushed: after a drain or a flush it is opened
  // again.
  bool drained;
};
struct AacEncoderClass {
  GstAudioEncoderClass parent_class;
};

GstAudioEncoderClass* parent_class = nullptr;

enum Property : guint { kBitrate = 1 };

constexpr gint kDefaultBitrate = 128000;

// The sampling rates the encoder takes (its supported_samplerates).
constexpr char kSinkCaps[] =
    "audio/x-raw, format=(string)F32LE, layout=(string)interleaved, "
    "rate=(int){ 96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, "
    "8000, 7350 }, channels=(int)[1, 2]";
constexpr char kSrcCaps[] =
    "audio/mpeg, mpegversion=(int)4, stream-format=(string)raw, framed=(boolean)true";

const AVCodec* AacCodec() { return avcodec_find_encoder_by_name("aac"); }

void CloseEncoder(AacEncoder* self) {
  avcodec_free_context(&self->context);
  av_frame_free(&self->frame);
  av_packet_free(&self->packet);
}

// Opens the encoder for `info`; false (and logged) when libavcodec refuses.
bool OpenEncoder(AacEncoder* self, const GstAudioInfo* info) {
  CloseEncoder(self);
  self->drained = false;
  const AVCodec* codec = AacCodec();
  if (codec == nullptr) {
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("libavcodec has no AAC encoder"), (nullptr));
    return false;
  }
  self->context = avcodec_alloc_context3(codec);
  self->frame = av_frame_alloc();
  self->packet = av_packet_alloc();
  if (self->context == nullptr || self->frame == nullptr || self->packet == nullptr) {
    CloseEncoder(self);
    return false;
  }
  AVCodecContext* c = self->context;
  c->bit_rate = self->bitrate;
  c->sample_rate = GST_AUDIO_INFO_RATE(info);
  c->sample_fmt = AV_SAMPLE_FMT_FLTP;
  av_channel_layout_default(&c->ch_layout, GST_AUDIO_INFO_CHANNELS(info));
  c->time_base = AVRational{1, GST_AUDIO_INFO_RATE(info)};
  const int opened = avcodec_open2(c, codec, nullptr);
  if (opened < 0) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("cannot open the AAC encoder"),
                      ("%s (rate %d, %d channels, %d bit/s)", AvErrorText(opened).c_str(),
                       GST_AUDIO_INFO_RATE(info), GST_AUDIO_INFO_CHANNELS(info), self->bitrate));
    CloseEncoder(self);
    return false;
  }
  return true;
}

gboolean Stop(GstAudioEncoder* encoder) {
  CloseEncoder(reinterpret_cast<AacEncoder*>(encoder));
  return TRUE;
}

gboolean SetFormat(GstAudioEncoder* encoder, GstAudioInfo* info) {
  auto* self = reinterpret_cast<AacEncoder*>(encoder);
  if (!OpenEncoder(self, info)) return FALSE;
  AVCodecContext* c = self->context;
  GstCaps* caps = gst_caps_new_simple("audio/mpeg", "mpegversion", G_TYPE_INT, 4, "stream-format",
                                      G_TYPE_STRING, "raw", "framed", G_TYPE_BOOLEAN, TRUE, "rate",
                                      G_TYPE_INT, c->sample_rate, "channels", G_TYPE_INT,
                                      c->ch_layout.nb_channels, nullptr);
  if (c->extradata != nullptr && c->extradata_size >= 2) {
    GstBuffer* config = gst_buffer_new_memdup(c->extradata, static_cast<gsize>(c->extradata_size));
    gst_caps_set_simple(caps, "codec_data", GST_TYPE_BUFFER, config, nullptr);
    gst_buffer_unref(config);
    gst_codec_utils_aac_caps_set_level_and_profile(caps, c->extradata,
                                                   static_cast<guint>(c->extradata_size));
  }
  const gboolean set = gst_audio_encoder_set_output_format(encoder, caps);
  gst_caps_unref(caps);
  if (!set) return FALSE;
  // One encoder frame per call: the base class then times each packet by the samples it took.
  const int frame_size = c->frame_size > 1 ? c->frame_size : 0;
  gst_audio_encoder_set_frame_samples_min(encoder, frame_size);
  gst_audio_encoder_set_frame_samples_max(encoder, frame_size);
  gst_audio_encoder_set_frame_max(encoder, frame_size > 0 ? 1 : 0);
  return TRUE;
}

// Every packet the encoder has ready, each finished as one frame of the base class.
GstFlowReturn PushPackets(AacEncoder* self) {
  GstAudioEncoder* encoder = GST_AUDIO_ENCODER(self);
  for (;;) {
    const int got = avcodec_receive_packet(self->context, self->packet);
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) return GST_FLOW_OK;
    if (got < 0) {
      GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("AAC encoding failed"), ("error %d", got));
      return GST_FLOW_ERROR;
    }
    AVPacket* p = self->packet;
    GstBuffer* out = gst_buffer_new_memdup(p->data, static_cast<gsize>(p->size));
    size_t skip_size = 0;
    const uint8_t* skip = av_packet_get_side_data(p, AV_PKT_DATA_SKIP_SAMPLES, &skip_size);
    if (skip != nullptr && skip_size == 10) {
      GstByteReader reader = GST_BYTE_READER_INIT(skip, 10);
      const guint32 start = gst_byte_reader_get_uint32_le_unchecked(&reader);
      const guint32 end = gst_byte_reader_get_uint32_le_unchecked(&reader);
      gst_buffer_add_audio_clipping_meta(out, GST_FORMAT_DEFAULT, start, end);
    }
    const int samples = p->duration > 0 ? static_cast<int>(p->duration) : -1;
    av_packet_unref(p);
    const GstFlowReturn ret = gst_audio_encoder_finish_frame(encoder, out, samples);
    if (ret != GST_FLOW_OK) return ret;
  }
}

GstFlowReturn Drain(AacEncoder* self) {
  if (self->drained) return GST_FLOW_OK;
  self->drained = true;
  const int sent = avcodec_send_frame(self->context, nullptr);
  if (sent < 0 && sent != AVERROR_EOF) return GST_FLOW_OK;
  return PushPackets(self);
}

// Interleaved float samples into the frame's planes.
bool FillFrame(AacEncoder* self, GstBuffer* input) {
  const GstAudioInfo* info = gst_audio_encoder_get_audio_info(GST_AUDIO_ENCODER(self));
  const int channels = GST_AUDIO_INFO_CHANNELS(info);
  GstMapInfo map;
  if (!gst_buffer_map(input, &map, GST_MAP_READ)) return false;
  const int samples = static_cast<int>(map.size / GST_AUDIO_INFO_BPF(info));
  AVFrame* f = self->frame;
  av_frame_unref(f);
  f->format = self->context->sample_fmt;
  f->sample_rate = self->context->sample_rate;
  f->nb_samples = samples;
  av_channel_layout_copy(&f->ch_layout, &self->context->ch_layout);
  if (samples <= 0 || av_frame_get_buffer(f, 0) < 0) {
    gst_buffer_unmap(input, &map);
    return false;
  }
  const auto* in = reinterpret_cast<const float*>(map.data);
  for (int ch = 0; ch < channels; ++ch) {
    auto* plane = reinterpret_cast<float*>(f->extended_data[ch]);
    for (int i = 0; i < samples; ++i) plane[i] = in[i * channels + ch];
  }
  gst_buffer_unmap(input, &map);
  return true;
}

GstFlowReturn HandleFrame(GstAudioEncoder* encoder, GstBuffer* input) {
  auto* self = reinterpret_cast<AacEncoder*>(encoder);
  if (self->context == nullptr) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("samples before the format"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (input == nullptr) return Drain(self);
  if (self->drained && !OpenEncoder(self, gst_audio_encoder_get_audio_info(encoder)))
    return GST_FLOW_NOT_NEGOTIATED;
  if (!FillFrame(self, input)) {
    GST_ELEMENT_ERROR(self, STREAM, ENCODE, ("cannot take the samples"), (nullptr));
    return GST_FLOW_ERROR;
  }
  const int samples = self->frame->nb_samples;
  const int sent = avcodec_send_frame(self->context, self->frame);
  av_frame_unref(self->frame);
  // As avenc_aac: a refused frame is logged and skipped, the stream goes on.
  if (sent < 0) GST_WARNING_OBJECT(self, "libavcodec refused %d samples: %d", samples, sent);
  return PushPackets(self);
}

// libavcodec ignores a flush of its AAC encoder (with a warning): the samples it holds are
// dropped by opening it again before the next ones.
void Flush(GstAudioEncoder* encoder) { reinterpret_cast<AacEncoder*>(encoder)->drained = true; }

void SetProperty(GObject* object, guint id, const GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<AacEncoder*>(object);
  if (id == kBitrate)
    self->bitrate = g_value_get_int(value);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
}

void GetProperty(GObject* object, guint id, GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<AacEncoder*>(object);
  if (id == kBitrate)
    g_value_set_int(value, self->bitrate);
  else
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
}

void Finalize(GObject* object) {
  CloseEncoder(reinterpret_cast<AacEncoder*>(object));
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

void InstanceInit(GTypeInstance* instance, gpointer) {
  auto* self = reinterpret_cast<AacEncoder*>(instance);
  self->bitrate = kDefaultBitrate;
  self->context = nullptr;
  self->frame = nullptr;
  self->packet = nullptr;
  self->drained = false;
  gst_audio_encoder_set_drainable(GST_AUDIO_ENCODER(self), TRUE);
}

void ClassInit(gpointer klass, gpointer) {
  parent_class = static_cast<GstAudioEncoderClass*>(g_type_class_peek_parent(klass));
  GObjectClass* object = G_OBJECT_CLASS(klass);
  object->set_property = SetProperty;
  object->get_property = GetProperty;
  object->finalize = Finalize;
  g_object_class_install_property(
      object, kBitrate,
      g_param_spec_int("bitrate", "bitrate", "bit/s", 1, G_MAXINT, kDefaultBitrate,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  GstElementClass* element = GST_ELEMENT_CLASS(klass);
  AddAlwaysPads(element, kSinkCaps, kSrcCaps);
  gst_element_class_set_static_metadata(element, "AAC encoder (libavcodec)", "Codec/Encoder/Audio",
                                        "AAC-LC with libavcodec's native encoder", "newsreel");
  GstAudioEncoderClass* audio = GST_AUDIO_ENCODER_CLASS(klass);
  audio->stop = Stop;
  audio->set_format = SetFormat;
  audio->handle_frame = HandleFrame;
  audio->flush = Flush;
}

}  // namespace

void RegisterAacEncoder() {
  static const gboolean registered = [] {
    GST_DEBUG_CATEGORY_INIT(newsreel_aac_debug, "newsreelaacenc", 0, "libavcodec AAC encoder");
    return RegisterElementType(GST_TYPE_AUDIO_ENCODER, "NewsreelAacEncoder", kAacEncoderFactory,
                               sizeof(AacEncoderClass), ClassInit, sizeof(AacEncoder),
                               InstanceInit);
  }();
  (void)registered;
}

}  // namespace newsreel::transcoder
