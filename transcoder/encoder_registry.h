#pragma once
// The encoder registry: which video encoders exist, in priority order (NVENC, VA-API,
// gstreamer-vaapi, Quick Sync, V4L2, then x264 and OpenH264 in software), and how our rung settings
// map onto each element's own properties and caps. The mapping is data (a list of property/value
// strings plus output caps), so it is tested without the element being installed.
//
// Whether an encoder actually works on this machine is decided by a trial encode
// (encoder_trial.h), not by the element being installed; except for x264, which has no device
// or driver to fail (VideoEncoder::NeedsTrial).

#include <gst/gst.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "transcoder/gst_util.h"

namespace newsreel::transcoder {

enum class VideoCodec { kH264, kH265 };
// "h264" / "h265": stable names used in JSON.
const char* VideoCodecName(VideoCodec codec);

// The device family a hardware encoder runs on. Sessions are counted per family
// (hw_sessions.h), and the device-resident decode/scale path is chosen per family (device_path.h).
enum class DeviceFamily { kNone, kNvidia, kVaapi, kIntelQsv, kV4l2 };
const char* DeviceFamilyName(DeviceFamily family);

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
  // B-frames between references; -1 leaves the encoder's own choice (x264's preset decides).
  // Hardware entries turn -1 into 0.
  int bframes = -1;
  std::string profile = "high";  // H.264 profile as in caps ("high", "main"); HEVC: "main"
  std::string level;             // "4.1"; empty lets the encoder pick
  bool low_latency = false;      // live: no reordering, no lookahead
  // Frames the encoder may look ahead for rate control and frame types; -1 leaves its own
  // default. Live x264 sets a few frames (with sync-lookahead 0, no B-pyramid and keyint-min at
  // the GOP) instead of low_latency's zerolatency tune, which gives up B-frames and MB-tree.
  int lookahead_frames = -1;
  // Less analysis than the speed preset's where it buys little quality: x264 searches motion
  // with a diamond instead of a hexagon and does not split B macroblocks into 8x8 partitions
  // (`me=dia:partitions=p8x8,i8x8,i4x4`; why, in vod_pipeline.cpp). Hardware encoders ignore it.
  bool fast_analysis = false;
  // Software encoders' own threads; 0 leaves the encoder's choice (x264: 1.5 per core).
  int threads = 0;
  // Caps feature of the frames the encoder receives: empty for system memory,
  // "memory:CUDAMemory" or "memory:VAMemory" when the device path keeps frames on the device.
  std::string input_memory;
};

// One property of the encoder element, set with gst_util_set_object_arg() (so enum nicks,
// flags, numbers and structures all go through GStreamer's own parser).
struct ElementProperty {
  std::string name;
  std::string value;
  // True when the element installs the property only on capable devices
  // (GST_PARAM_CONDITIONALLY_AVAILABLE): skipped, not an error, when absent.
  bool optional = false;
};

// The element-specific form of a VideoEncodeSettings.
struct EncoderConfig {
  std::vector<ElementProperty> properties;  // applied in order
  std::string output_caps;                  // the capsfilter after the encoder
};

// One entry of the registry. Implementations are stateless and thread-safe.
class VideoEncoder {
 public:
  virtual ~VideoEncoder() = default;
  // Short stable name used on the command line and in manifests: "x264", "nvenc-h264".
  virtual std::string name() const = 0;
  // The GStreamer element factory it needs: "nvh264enc", "newsreelx264".
  virtual std::string factory() const = 0;
  virtual bool hardware() const = 0;
  virtual VideoCodec codec() const { return VideoCodec::kH264; }
  virtual DeviceFamily device() const { return DeviceFamily::kNone; }
  // True when the element factory is installed.
  bool Present() const;
  // Whether a job needs this encoder to pass its trial encode (encoder_trial.h) before it uses
  // it. Hardware and plugin encoders can be installed and still not work (no device, a driver
  // that does not match the library); that is what the trial finds out. `newsreel encoders`
  // runs every trial whatever this says.
  virtual bool NeedsTrial() const { return true; }
  // Maps rung settings onto the element's properties and output caps. Pure: no element needed.
  virtual EncoderConfig Configure(const VideoEncodeSettings& settings) const = 0;
  // Creates a bin with a "sink" pad accepting raw video (I420 in system memory unless
  // settings.input_memory names a device memory) and a "src" pad producing the codec's
  // byte-stream, one access unit per buffer, in the profile Configure() puts in its caps.
  virtual Result<GstPtr<GstElement>> CreateBin(const VideoEncodeSettings& settings) const;

 protected:
  // Whether CreateBin puts a videoconvert in front of the encoder (hardware encoders often want
  // NV12; the conversion is a passthrough when the formats already match).
  virtual bool ConvertInput() const { return hardware(); }
};

// Applies `config.properties` to `element`. A property the element lacks is an error unless it is
// optional; a value GStreamer cannot parse for the property's type is an error.
Status ApplyProperties(GstElement* element, const std::vector<ElementProperty>& properties);

// A data-driven entry: a name, an element and a mapping function.
class TableEncoder : public VideoEncoder {
 public:
  using MapFn = EncoderConfig (*)(const VideoEncodeSettings&);
  TableEncoder(std::string name, std::string factory, VideoCodec codec, DeviceFamily device,
               bool hardware, MapFn map)
      : name_(std::move(name)),
        factory_(std::move(factory)),
        codec_(codec),
        device_(device),
        hardware_(hardware),
        map_(map) {}
  std::string name() const override { return name_; }
  std::string factory() const override { return factory_; }
  bool hardware() const override { return hardware_; }
  VideoCodec codec() const override { return codec_; }
  DeviceFamily device() const override { return device_; }
  EncoderConfig Configure(const VideoEncodeSettings& s) const override { return map_(s); }

 private:
  std::string name_, factory_;
  VideoCodec codec_;
  DeviceFamily device_;
  bool hardware_;
  MapFn map_;
};

class EncoderRegistry {
 public:
  EncoderRegistry() = default;
  // A registry holding exactly `encoders`, highest priority first (tests build their own).
  explicit EncoderRegistry(std::vector<std::unique_ptr<VideoEncoder>> encoders);
  EncoderRegistry(EncoderRegistry&&) = default;
  EncoderRegistry& operator=(EncoderRegistry&&) = default;

  // The process-wide registry with every known encoder, highest priority first.
  static const EncoderRegistry& Default();
  // Every known encoder, highest priority first (what Default() holds).
  static std::vector<std::unique_ptr<VideoEncoder>> KnownEncoders();

  void Register(std::unique_ptr<VideoEncoder> encoder);
  const std::vector<std::unique_ptr<VideoEncoder>>& encoders() const { return encoders_; }
  const VideoEncoder* Find(const std::string& name) const;

  // "auto": the first present H.264 encoder in priority order; otherwise the named one, which
  // must be known and present. Presence only: EncoderProver (encoder_trial.h) adds the proof.
  Result<const VideoEncoder*> Select(const std::string& choice) const;

 private:
  std::vector<std::unique_ptr<VideoEncoder>> encoders_;
};

// Software H.264 with libx264 through newsreelx264 (x264_element.h, built into newsreel and set
// up as GStreamer's x264enc sets up x264): veryfast preset, capped ABR, fixed GOP. Its settings
// are tuned against ffmpeg elsewhere; keep them as they are.
class X264Encoder : public VideoEncoder {
 public:
  std::string name() const override { return "x264"; }
  std::string factory() const override;
  bool hardware() const override { return false; }
  // No device, no driver: once installed it works, and a trial would only add ~15 ms (and
  // 1.5 MB) to every job's start. A job that fails in it still goes on to the next encoder.
  bool NeedsTrial() const override { return false; }
  EncoderConfig Configure(const VideoEncodeSettings& settings) const override;
};

}  // namespace newsreel::transcoder
