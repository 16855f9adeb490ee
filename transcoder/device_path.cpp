#include "transcoder/device_path.h"

#include <gst/gst.h>

#include "transcoder/gst_util.h"

namespace newsreel::transcoder {
namespace {

struct Family {
  const char* prefix;  // decoder factory prefix: "nv" + "h264dec"
  const char* upload;
  const char* scaler;
  const char* memory;
};

// The VA plugin (va*) and NVIDIA's (nv*) only: gstreamer-vaapi's vaapih264enc uses its own
// surface memory and elements, QSV and V4L2 encoders import system memory.
const Family* FamilyOf(const std::string& encoder_factory) {
  static const Family kNvidia{"nv", "cudaupload", "cudascale", "memory:CUDAMemory"};
  static const Family kVa{"va", "", "vapostproc", "memory:VAMemory"};
  if (encoder_factory.rfind("nv", 0) == 0) return &kNvidia;
  if (encoder_factory.rfind("va", 0) == 0 && encoder_factory.rfind("vaapi", 0) != 0) return &kVa;
  return nullptr;
}

std::string DecoderSuffix(const std::string& codec) {
  if (codec == "h264") return "h264dec";
  if (codec == "hevc" || codec == "h265") return "h265dec";
  if (codec == "vp8") return "vp8dec";
  if (codec == "vp9") return "vp9dec";
  if (codec == "av1") return "av1dec";
  if (codec == "mpeg2video" || codec == "mpeg2") return "mpeg2dec";
  return "";
}

}  // namespace

DevicePath PlanDevicePath(const std::string& encoder_factory, const std::string& source_codec,
                          bool interlaced, int rotation,
                          const std::function<bool(const std::string&)>& element_exists) {
  DevicePath p;
  const Family* f = FamilyOf(encoder_factory);
  if (f == nullptr) {
    p.reason = encoder_factory + " has no device-memory scaler; frames come from system memory";
    return p;
  }
  p.upload = f->upload;
  p.scaler = f->scaler;
  p.memory = f->memory;
  if (!element_exists(p.scaler) || (!p.upload.empty() && !element_exists(p.upload))) {
    p.reason = "the device scaler " + p.scaler + (p.upload.empty() ? "" : " or " + p.upload) +
               " is not installed";
    return p;
  }
  p.scale_on_device = true;
  const std::string suffix = DecoderSuffix(source_codec);
  if (!suffix.empty() && element_exists(f->prefix + suffix)) p.decoder = f->prefix + suffix;
  if (p.decoder.empty()) {
    p.reason = "no " + std::string(f->prefix) + " decoder for " + source_codec;
  } else if (interlaced || rotation != 0) {
    p.reason = "the source needs deinterlacing or rotation, done on the CPU";
  } else {
    p.decode_on_device = true;
  }
  return p;
}

bool ElementExists(const std::string& factory) {
  EnsureGstInit();
  GstPtr<GstElementFactory> f(gst_element_factory_find(factory.c_str()));
  return f != nullptr;
}

}  // namespace newsreel::transcoder
