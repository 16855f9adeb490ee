// Which decoder, scaler and memory go with a hardware encoder (device_path.h).
#include "transcoder/device_path.h"

#include <gtest/gtest.h>

#include <set>

namespace newsreel::transcoder {
namespace {

std::function<bool(const std::string&)> Installed(std::set<std::string> names) {
  return [names](const std::string& n) { return names.count(n) > 0; };
}

TEST(EncoderDevicePathTest, NvencKeepsFramesInCudaMemory) {
  auto p = PlanDevicePath("nvh264enc", "h264", false, 0,
                          Installed({"nvh264dec", "cudaupload", "cudascale"}));
  EXPECT_TRUE(p.scale_on_device);
  EXPECT_TRUE(p.decode_on_device);
  EXPECT_EQ(p.decoder, "nvh264dec");
  EXPECT_EQ(p.upload, "cudaupload");
  EXPECT_EQ(p.scaler, "cudascale");
  EXPECT_EQ(p.memory, "memory:CUDAMemory");
  EXPECT_EQ(p.reason, "");
  EXPECT_EQ(PlanDevicePath("nvh265enc", "hevc", false, 0,
                           Installed({"nvh265dec", "cudaupload", "cudascale"}))
                .decoder,
            "nvh265dec");
}

TEST(EncoderDevicePathTest, VaPluginUsesVapostprocInVaMemory) {
  auto p = PlanDevicePath("vah264enc", "vp9", false, 0, Installed({"vavp9dec", "vapostproc"}));
  EXPECT_TRUE(p.scale_on_device);
  EXPECT_TRUE(p.decode_on_device);
  EXPECT_EQ(p.decoder, "vavp9dec");
  EXPECT_EQ(p.upload, "");  // vapostproc imports system memory itself
  EXPECT_EQ(p.scaler, "vapostproc");
  EXPECT_EQ(p.memory, "memory:VAMemory");
}

TEST(EncoderDevicePathTest, NoDevicePathWhereItCannotWork) {
  // Software encoders, gstreamer-vaapi, QSV and V4L2 take system memory.
  for (const char* enc : {"x264enc", "vaapih264enc", "qsvh264enc", "v4l2h264enc"}) {
    auto p = PlanDevicePath(
        enc, "h264", false, 0,
        Installed({"nvh264dec", "cudaupload", "cudascale", "vah264dec", "vapostproc"}));
    EXPECT_FALSE(p.scale_on_device) << enc;
    EXPECT_FALSE(p.decode_on_device) << enc;
    EXPECT_FALSE(p.reason.empty()) << enc;
  }
  // The scaler missing: nothing on the device.
  auto no_scaler = PlanDevicePath("nvh264enc", "h264", false, 0, Installed({"nvh264dec"}));
  EXPECT_FALSE(no_scaler.scale_on_device);
  EXPECT_FALSE(no_scaler.decode_on_device);
  // No device decoder for the codec: scale on the device, decode on the CPU.
  auto no_dec =
      PlanDevicePath("nvh264enc", "prores", false, 0, Installed({"cudaupload", "cudascale"}));
  EXPECT_TRUE(no_dec.scale_on_device);
  EXPECT_FALSE(no_dec.decode_on_device);
  // Interlaced or rotated sources go through the CPU chain first.
  auto all = Installed({"nvh264dec", "cudaupload", "cudascale"});
  EXPECT_FALSE(PlanDevicePath("nvh264enc", "h264", true, 0, all).decode_on_device);
  EXPECT_FALSE(PlanDevicePath("nvh264enc", "h264", false, 90, all).decode_on_device);
  EXPECT_TRUE(PlanDevicePath("nvh264enc", "h264", false, 90, all).scale_on_device);
}

}  // namespace
}  // namespace newsreel::transcoder
