#pragma once
// The encoder registry: which H.264 encoders exist, in priority order, and how our rung settings
// map onto each element's own properties. Hardware entries (NVENC, VA-API, Quick Sync, V4L2) are
// added by the hardware-encoding work; x264 is the always-present software baseline.

#include <gst/gst.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/gst_util.h"

namespace newsreel::transcoder {

// What one rung asks of an encoder.
struct VideoEncodeSettings {
  int width = 0;
  int height = 0;
  int fps_n = 30;
  int fps_d = 1;
  int bitrate = 0;      // average, bits/s
  int max_bitrate = 0;  // VBV peak, bits/s
  int buffer_size = 0;  // VBV buffer, bits
  int gop_frames = 60;  // IDR interval; no scene-cut keyframes
  bool low_latency = false;
};

// One entry of the registry. Implementations are stateless and thread-safe.
class VideoEncoder {
 public:
  virtual ~VideoEncoder() = default;
  // Short stable name used on the command line and in manifests: "x264".
  virtual std::string name() const = 0;
  // The GStreamer element factory it needs: "x264enc".
  virtual std::string factory() const = 0;
  virtual bool hardware() const = 0;
  // True when the element factory is installed.
  bool Present() const;
  // Creates a bin with a "sink" pad accepting raw I420 video in system memory and a "src" pad
  // producing H.264 byte-stream, High profile, 8-bit 4:2:0, one access unit per buffer.
  virtual Result<GstPtr<GstElement>> CreateBin(const VideoEncodeSettings& settings) const = 0;
};

class EncoderRegistry {
 public:
  // The process-wide registry with every known encoder, highest priority first.
  static const EncoderRegistry& Default();

  void Register(std::unique_ptr<VideoEncoder> encoder);
  const std::vector<std::unique_ptr<VideoEncoder>>& encoders() const { return encoders_; }
  const VideoEncoder* Find(const std::string& name) const;

  // "auto": the first present encoder in priority order; otherwise the named one, which must be
  // known and present.
  Result<const VideoEncoder*> Select(const std::string& choice) const;

 private:
  std::vector<std::unique_ptr<VideoEncoder>> encoders_;
};

// Software H.264 with libx264 (x264enc): veryfast preset, capped ABR, fixed GOP.
class X264Encoder : public VideoEncoder {
 public:
  std::string name() const override { return "x264"; }
  std::string factory() const override { return "x264enc"; }
  bool hardware() const override { return false; }
  Result<GstPtr<GstElement>> CreateBin(const VideoEncodeSettings& settings) const override;
};

}  // namespace newsreel::transcoder
