#pragma once
// What Newsreel's elements over libavcodec (aac_encoder.h, video_decoder.h, audio_decoder.h)
// share: GStreamer buffers into libavcodec's packets and extradata, and its error codes as text.

#include <gst/gst.h>

#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace newsreel::transcoder {

// libavcodec's text for an error code ("Invalid data found when processing input").
std::string AvErrorText(int code);

// Copies `buffer` into `packet`, followed by the zeroed padding libavcodec reads past the end.
// False for an empty or unreadable buffer, or when the memory cannot be had.
bool FillPacket(AVPacket* packet, GstBuffer* buffer);

// Gives `context` a padded copy of `codec_data` (a stream's configuration: avcC, hvcC,
// AudioSpecificConfig) as its extradata; nothing when there is none. False when the memory
// cannot be had.
bool SetExtradata(AVCodecContext* context, GstBuffer* codec_data);

}  // namespace newsreel::transcoder
