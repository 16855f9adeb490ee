#include "transcoder/audio_decoder.h"

#include <gst/audio/audio.h>
#include <gst/audio/gstaudiodecoder.h>
#include <gst/base/gstbytewriter.h>
#include <gst/gst.h>

#include <algorithm>
#include <array>

#include "transcoder/gst_util.h"
#include "transcoder/libav_util.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
}

GST_DEBUG_CATEGORY_STATIC(newsreel_audio_decoder_debug);
#define GST_CAT_DEFAULT newsreel_audio_decoder_debug

namespace newsreel::transcoder {
namespace {

constexpr int kMaxChannels = 64;

struct AudioDecoder {
  GstAudioDecoder parent;
  // While a format is set.
  AVCodecContext* context;
  AVFrame* frame;
  AVPacket* packet;
  GstCaps* input_caps;
  // What the output was negotiated for (rate 0: nothing yet), and for each of its channels the
  // libavcodec channel it takes.
  int output_rate;
  AVChannelLayout output_layout;
  std::array<int, kMaxChannels> source_channel;
};
struct AudioDecoderClass {
  GstAudioDecoderClass parent_class;
};

GstAudioDecoderClass* parent_class = nullptr;

constexpr char kSinkCaps[] =
    "audio/mpeg, mpegversion=(int)1, layer=(int)[1, 3], parsed=(boolean)true; "
    "audio/mpeg, mpegversion=(int){ 2, 4 }, stream-format=(string){ raw, adts }, "
    "framed=(boolean)true";
constexpr char kSrcCaps[] =
    "audio/x-raw, format=(string)F32LE, layout=(string)interleaved, rate=(int)[1, MAX], "
    "channels=(int)[1, 64]";

void CloseDecoder(AudioDecoder* self) {
  avcodec_free_context(&self->context);
  av_frame_free(&self->frame);
  av_packet_free(&self->packet);
  gst_caps_replace(&self->input_caps, nullptr);
  av_channel_layout_uninit(&self->output_layout);
  self->output_rate = 0;
}

GstFlowReturn FinishFrames(AudioDecoder* self, int consumed);

// The libavcodec decoder for `caps`, a float one as ffmpeg picks: MPEG audio by layer, else AAC.
const AVCodec* DecoderOf(const GstStructure* s) {
  int version = 4;
  gst_structure_get_int(s, "mpegversion", &version);
  if (version != 1) return avcodec_find_decoder_by_name("aac");
  int layer = 3;
  gst_structure_get_int(s, "layer", &layer);
  return avcodec_find_decoder_by_name(layer == 1   ? "mp1float"
                                      : layer == 2 ? "mp2float"
                                                   : "mp3float");
}

gboolean SetFormat(GstAudioDecoder* decoder, GstCaps* caps) {
  auto* self = reinterpret_cast<AudioDecoder*>(decoder);
  if (self->input_caps != nullptr && gst_caps_is_equal(self->input_caps, caps)) return TRUE;
  // New caps mid-stream (a new sampling rate, say): what the old decoder holds goes out first.
  if (self->context != nullptr && avcodec_send_packet(self->context, nullptr) == 0)
    (void)FinishFrames(self, 0);
  CloseDecoder(self);
  const GstStructure* s = gst_caps_get_structure(caps, 0);
  const AVCodec* codec = DecoderOf(s);
  if (codec == nullptr) {
    GST_ELEMENT_ERROR(self, LIBRARY, INIT, ("libavcodec has no decoder for %" GST_PTR_FORMAT, caps),
                      (nullptr));
    return FALSE;
  }
  self->context = avcodec_alloc_context3(codec);
  self->frame = av_frame_alloc();
  self->packet = av_packet_alloc();
  if (self->context == nullptr || self->frame == nullptr || self->packet == nullptr) {
    CloseDecoder(self);
    return FALSE;
  }
  AVCodecContext* c = self->context;
  int rate = 0, channels = 0;
  if (gst_structure_get_int(s, "rate", &rate) && rate > 0) c->sample_rate = rate;
  if (gst_structure_get_int(s, "channels", &channels) && channels > 0 && channels <= kMaxChannels)
    av_channel_layout_default(&c->ch_layout, channels);
  const GValue* data = gst_structure_get_value(s, "codec_data");
  if (!SetExtradata(c, data != nullptr && G_VALUE_HOLDS(data, GST_TYPE_BUFFER)
                           ? gst_value_get_buffer(data)
                           : nullptr)) {
    CloseDecoder(self);
    return FALSE;
  }
  const int opened = avcodec_open2(c, codec, nullptr);
  if (opened < 0) {
    GST_ELEMENT_ERROR(self, LIBRARY, SETTINGS, ("cannot open the %s decoder", codec->name),
                      ("%s", AvErrorText(opened).c_str()));
    CloseDecoder(self);
    return FALSE;
  }
  self->input_caps = gst_caps_ref(caps);
  return TRUE;
}

GstAudioChannelPosition PositionOf(AVChannel channel) {
  switch (channel) {
    case AV_CHAN_FRONT_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT;
    case AV_CHAN_FRONT_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT;
    case AV_CHAN_FRONT_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_FRONT_CENTER;
    case AV_CHAN_LOW_FREQUENCY:
      return GST_AUDIO_CHANNEL_POSITION_LFE1;
    case AV_CHAN_BACK_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_REAR_LEFT;
    case AV_CHAN_BACK_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_REAR_RIGHT;
    case AV_CHAN_FRONT_LEFT_OF_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT_OF_CENTER;
    case AV_CHAN_FRONT_RIGHT_OF_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT_OF_CENTER;
    case AV_CHAN_BACK_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_REAR_CENTER;
    case AV_CHAN_SIDE_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_SIDE_LEFT;
    case AV_CHAN_SIDE_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_SIDE_RIGHT;
    case AV_CHAN_TOP_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_TOP_CENTER;
    case AV_CHAN_TOP_FRONT_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_TOP_FRONT_LEFT;
    case AV_CHAN_TOP_FRONT_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_TOP_FRONT_CENTER;
    case AV_CHAN_TOP_FRONT_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_TOP_FRONT_RIGHT;
    case AV_CHAN_TOP_BACK_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_TOP_REAR_LEFT;
    case AV_CHAN_TOP_BACK_CENTER:
      return GST_AUDIO_CHANNEL_POSITION_TOP_REAR_CENTER;
    case AV_CHAN_TOP_BACK_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_TOP_REAR_RIGHT;
    case AV_CHAN_LOW_FREQUENCY_2:
      return GST_AUDIO_CHANNEL_POSITION_LFE2;
    case AV_CHAN_WIDE_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_WIDE_LEFT;
    case AV_CHAN_WIDE_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_WIDE_RIGHT;
    case AV_CHAN_SURROUND_DIRECT_LEFT:
      return GST_AUDIO_CHANNEL_POSITION_SURROUND_LEFT;
    case AV_CHAN_SURROUND_DIRECT_RIGHT:
      return GST_AUDIO_CHANNEL_POSITION_SURROUND_RIGHT;
    default:
      return GST_AUDIO_CHANNEL_POSITION_INVALID;
  }
}

// Sets the output format for the decoded `frame` when its rate or layout changed.
bool Negotiate(AudioDecoder* self, const AVFrame* frame) {
  const int channels = frame->ch_layout.nb_channels;
  if (self->output_rate == frame->sample_rate &&
      av_channel_layout_compare(&self->output_layout, &frame->ch_layout) == 0)
    return true;
  if (channels < 1 || channels > kMaxChannels || frame->sample_rate <= 0) {
    GST_ELEMENT_ERROR(self, STREAM, DECODE, ("unsupported audio"),
                      ("%d channels at %d Hz", channels, frame->sample_rate));
    return false;
  }
  // libavcodec's channels by name; GStreamer's order of the same, and where each comes from.
  std::array<GstAudioChannelPosition, kMaxChannels> from{}, to{};
  bool positioned = channels <= 2 || frame->ch_layout.order == AV_CHANNEL_ORDER_NATIVE;
  for (int i = 0; i < channels && positioned; ++i) {
    from[i] = PositionOf(av_channel_layout_channel_from_index(&frame->ch_layout, i));
    positioned = from[i] != GST_AUDIO_CHANNEL_POSITION_INVALID;
  }
  if (channels == 1) from[0] = GST_AUDIO_CHANNEL_POSITION_MONO;
  if (channels == 2 && !positioned) {
    from[0] = GST_AUDIO_CHANNEL_POSITION_FRONT_LEFT;
    from[1] = GST_AUDIO_CHANNEL_POSITION_FRONT_RIGHT;
    positioned = true;
  }
  std::copy_n(from.begin(), channels, to.begin());
  for (int i = 0; i < channels; ++i) self->source_channel[i] = i;
  if (positioned && gst_audio_channel_positions_to_valid_order(to.data(), channels)) {
    std::array<gint, kMaxChannels> map{};
    if (gst_audio_get_channel_reorder_map(channels, to.data(), from.data(), map.data()))
      for (int i = 0; i < channels; ++i) self->source_channel[i] = map[i];
  } else {
    positioned = false;
    std::fill_n(to.begin(), channels, GST_AUDIO_CHANNEL_POSITION_NONE);
  }
  GstAudioInfo info;
  gst_audio_info_init(&info);
  gst_audio_info_set_format(&info, GST_AUDIO_FORMAT_F32LE, frame->sample_rate, channels, to.data());
  if (!gst_audio_decoder_set_output_format(GST_AUDIO_DECODER(self), &info)) return false;
  self->output_rate = frame->sample_rate;
  av_channel_layout_uninit(&self->output_layout);
  av_channel_layout_copy(&self->output_layout, &frame->ch_layout);
  return true;
}

// The decoded frame, interleaved in the output's channel order, appended to `out` (a buffer, or
// null for none yet).
bool AppendSamples(AudioDecoder* self, const AVFrame* frame, GstBuffer*& out) {
  const int channels = frame->ch_layout.nb_channels;
  const int samples = frame->nb_samples;
  const bool planar = frame->format == AV_SAMPLE_FMT_FLTP;
  if (!planar && frame->format != AV_SAMPLE_FMT_FLT) {
    GST_ELEMENT_ERROR(self, STREAM, DECODE, ("unsupported sample format"),
                      ("libavcodec gave format %d", frame->format));
    return false;
  }
  if (samples <= 0) return true;
  GstBuffer* buffer = gst_buffer_new_allocate(
      nullptr, static_cast<gsize>(samples) * channels * sizeof(float), nullptr);
  GstMapInfo map;
  gst_buffer_map(buffer, &map, GST_MAP_WRITE);
  auto* o = reinterpret_cast<float*>(map.data);
  for (int ch = 0; ch < channels; ++ch) {
    const int source = self->source_channel[ch];
    if (planar) {
      const auto* in = reinterpret_cast<const float*>(frame->extended_data[source]);
      for (int i = 0; i < samples; ++i) o[i * channels + ch] = in[i];
    } else {
      const auto* in = reinterpret_cast<const float*>(frame->data[0]);
      for (int i = 0; i < samples; ++i) o[i * channels + ch] = in[i * channels + source];
    }
  }
  gst_buffer_unmap(buffer, &map);
  out = out != nullptr ? gst_buffer_append(out, buffer) : buffer;
  return true;
}

// Every frame libavcodec has ready, as one buffer finishing `consumed` input frames.
GstFlowReturn FinishFrames(AudioDecoder* self, int consumed) {
  GstBuffer* buffer = nullptr;
  GstFlowReturn ret = GST_FLOW_OK;
  for (;;) {
    const int got = avcodec_receive_frame(self->context, self->frame);
    if (got == AVERROR(EAGAIN) || got == AVERROR_EOF) break;
    if (got < 0) {
      GST_WARNING_OBJECT(self, "decoding error %d", got);
      break;
    }
    const bool ok = Negotiate(self, self->frame) && AppendSamples(self, self->frame, buffer);
    av_frame_unref(self->frame);
    if (!ok) {
      ret = GST_FLOW_NOT_NEGOTIATED;
      break;
    }
  }
  if (ret != GST_FLOW_OK) {
    if (buffer != nullptr) gst_buffer_unref(buffer);
    return ret;
  }
  if (buffer == nullptr && consumed == 0) return GST_FLOW_OK;
  return gst_audio_decoder_finish_frame(GST_AUDIO_DECODER(self), buffer, consumed);
}

GstFlowReturn HandleFrame(GstAudioDecoder* decoder, GstBuffer* input) {
  auto* self = reinterpret_cast<AudioDecoder*>(decoder);
  if (self->context == nullptr) {
    GST_ELEMENT_ERROR(self, CORE, NEGOTIATION, (nullptr), ("data before the format"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  // mpegaudioparse marks the LAME/Xing header frame: decoded, it is a frame of silence.
  if (input != nullptr && GST_BUFFER_FLAG_IS_SET(input, GST_BUFFER_FLAG_DECODE_ONLY) &&
      GST_BUFFER_FLAG_IS_SET(input, GST_BUFFER_FLAG_DROPPABLE) &&
      self->context->codec_id == AV_CODEC_ID_MP3)
    return gst_audio_decoder_finish_frame(decoder, nullptr, 1);
  if (input == nullptr) {  // drain
    GstFlowReturn ret = GST_FLOW_OK;
    if (avcodec_send_packet(self->context, nullptr) == 0) ret = FinishFrames(self, 0);
    avcodec_flush_buffers(self->context);
    return ret;
  }
  AVPacket* packet = self->packet;
  const bool filled = FillPacket(packet, input);
  if (!filled) return gst_audio_decoder_finish_frame(decoder, nullptr, 1);
  // What to cut from the decoded frame (an MP3's encoder delay and padding, as mpegaudioparse
  // reads them from the LAME header): libavcodec cuts it, as ffmpeg's demuxer asks it to.
  const GstAudioClippingMeta* clip = gst_buffer_get_audio_clipping_meta(input);
  if (clip != nullptr && clip->format == GST_FORMAT_DEFAULT) {
    if (uint8_t* skip = av_packet_new_side_data(packet, AV_PKT_DATA_SKIP_SAMPLES, 10)) {
      GstByteWriter writer;
      gst_byte_writer_init_with_data(&writer, skip, 10, FALSE);
      gst_byte_writer_put_uint32_le(&writer, static_cast<guint32>(clip->start));
      gst_byte_writer_put_uint32_le(&writer, static_cast<guint32>(clip->end));
    }
  }
  const int sent = avcodec_send_packet(self->context, packet);
  av_packet_unref(packet);
  if (sent < 0)
    GST_WARNING_OBJECT(self, "libavcodec refused a frame: %s", AvErrorText(sent).c_str());
  return FinishFrames(self, 1);
}

void Flush(GstAudioDecoder* decoder, gboolean) {
  auto* self = reinterpret_cast<AudioDecoder*>(decoder);
  if (self->context != nullptr) avcodec_flush_buffers(self->context);
}

gboolean Stop(GstAudioDecoder* decoder) {
  CloseDecoder(reinterpret_cast<AudioDecoder*>(decoder));
  return TRUE;
}

void Finalize(GObject* object) {
  CloseDecoder(reinterpret_cast<AudioDecoder*>(object));
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

void InstanceInit(GTypeInstance* instance, gpointer) {
  auto* self = reinterpret_cast<AudioDecoder*>(instance);
  self->context = nullptr;
  self->frame = nullptr;
  self->packet = nullptr;
  self->input_caps = nullptr;
  self->output_rate = 0;
  self->output_layout = AVChannelLayout{};
  GstAudioDecoder* decoder = GST_AUDIO_DECODER(self);
  gst_audio_decoder_set_drainable(decoder, TRUE);
  gst_audio_decoder_set_needs_format(decoder, TRUE);
  gst_audio_decoder_set_use_default_pad_acceptcaps(decoder, TRUE);
  GST_PAD_SET_ACCEPT_TEMPLATE(GST_AUDIO_DECODER_SINK_PAD(decoder));
}

void ClassInit(gpointer klass, gpointer) {
  parent_class = static_cast<GstAudioDecoderClass*>(g_type_class_peek_parent(klass));
  G_OBJECT_CLASS(klass)->finalize = Finalize;
  GstElementClass* element = GST_ELEMENT_CLASS(klass);
  AddAlwaysPads(element, kSinkCaps, kSrcCaps);
  gst_element_class_set_static_metadata(
      element, "AAC and MPEG audio decoder (libavcodec)", "Codec/Decoder/Audio",
      "libavcodec's AAC and MPEG audio float decoders", "newsreel");
  GstAudioDecoderClass* audio = GST_AUDIO_DECODER_CLASS(klass);
  audio->stop = Stop;
  audio->set_format = SetFormat;
  audio->handle_frame = HandleFrame;
  audio->flush = Flush;
}

}  // namespace

void RegisterAudioDecoder() {
  static const gboolean registered = [] {
    GST_DEBUG_CATEGORY_INIT(newsreel_audio_decoder_debug, "newsreelaudiodec", 0,
                            "libavcodec AAC and MPEG audio decoder");
    return RegisterElementType(GST_TYPE_AUDIO_DECODER, "NewsreelAudioDecoder", kAudioDecoderFactory,
                               sizeof(AudioDecoderClass), ClassInit, sizeof(AudioDecoder),
                               InstanceInit, GST_RANK_PRIMARY + 1);
  }();
  (void)registered;
}

}  // namespace newsreel::transcoder
