#include "transcoder/libav_util.h"

#include <algorithm>

#include "transcoder/gst_util.h"

namespace newsreel::transcoder {

std::string AvErrorText(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {};
  av_strerror(code, text, sizeof text);
  return text;
}

bool FillPacket(AVPacket* packet, GstBuffer* buffer) {
  BufferMap in(buffer);
  if (!in.ok() || in.size() == 0 || in.size() >= G_MAXINT - AV_INPUT_BUFFER_PADDING_SIZE)
    return false;
  if (av_new_packet(packet, static_cast<int>(in.size())) != 0) return false;  // padding zeroed
  std::copy_n(in.data(), in.size(), packet->data);
  return true;
}

bool SetExtradata(AVCodecContext* context, GstBuffer* codec_data) {
  if (codec_data == nullptr) return true;
  BufferMap config(codec_data);
  if (!config.ok() || config.size() == 0 ||
      config.size() >= G_MAXINT - AV_INPUT_BUFFER_PADDING_SIZE)
    return true;
  av_freep(&context->extradata);
  context->extradata =
      static_cast<uint8_t*>(av_mallocz(config.size() + AV_INPUT_BUFFER_PADDING_SIZE));
  if (context->extradata == nullptr) return false;
  std::copy_n(config.data(), config.size(), context->extradata);
  context->extradata_size = static_cast<int>(config.size());
  return true;
}

}  // namespace newsreel::transcoder
