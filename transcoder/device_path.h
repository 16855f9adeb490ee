#pragma once
// Keeping frames on the GPU: which decoder, scaler and memory type go with a hardware encoder.
// With NVENC (nvh264enc) frames can be decoded by NVDEC (nvh264dec) and scaled by cudascale in
// CUDA memory; with the VA plugin (vah264enc) by vah264dec and vapostproc in VA memory. Then no
// rung's frames are copied to system memory and back.
//
// PlanDevicePath is a pure function of the encoder, the source and which elements exist, so the
// choice is tested on machines without a GPU.

#include <functional>
#include <string>

namespace newsreel::transcoder {

struct DevicePath {
  // Rungs may be scaled on the device: upload (when needed) → scaler → encoder, in `memory`.
  bool scale_on_device = false;
  // The source may also be decoded on the device (a decoder for its codec exists, and the
  // picture needs no deinterlacing or rotation, which the shared chain does on the CPU).
  bool decode_on_device = false;
  std::string decoder;  // "nvh264dec", "vah265dec"; empty when the codec has none
  std::string upload;   // "cudaupload"; empty when the scaler imports system memory itself
  std::string scaler;   // "cudascale", "vapostproc"
  std::string memory;   // caps feature: "memory:CUDAMemory", "memory:VAMemory"
  std::string reason;   // why the path is not (fully) used; empty when it is
};

// `encoder_factory`: the encoder element ("nvh264enc"). `source_codec`: the source's short codec
// name as in VideoStreamInfo::codec ("h264", "hevc", "vp9", "av1", ...). `element_exists` says
// whether a GStreamer element factory is installed.
DevicePath PlanDevicePath(const std::string& encoder_factory, const std::string& source_codec,
                          bool interlaced, int rotation,
                          const std::function<bool(const std::string&)>& element_exists);

// element_exists for PlanDevicePath backed by the GStreamer registry.
bool ElementExists(const std::string& factory);

}  // namespace newsreel::transcoder
