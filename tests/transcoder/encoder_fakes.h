#pragma once
// Fake encoder elements for the encoder tests, registered in-process. Each is a GstBin around
// x264enc that behaves like a hardware encoder would:
//   fakehwh264enc      works (properties "bitrate" kbit/s and "key-int-max", like many HW encoders)
//   fakebrokenh264enc  turns every output buffer into garbage: fails its trial
//   fakeerrorh264enc   posts an error after "fail-after" access units: passes a short trial,
//                      fails mid-job
//   fakehangh264enc    swallows every frame and the end of stream: never finishes
// And registries of TableEncoder entries for them (DeviceFamily::kNvidia, hardware), never the
// process-wide registry.

#include <memory>
#include <string>
#include <vector>

#include "transcoder/encoder_registry.h"

namespace newsreel::transcoder::testing {

// Registers the four fake elements once per process.
void RegisterFakeEncoders();

// A registry entry for one fake: name "fake-hw", "fake-broken", "fake-error", "fake-hang".
std::unique_ptr<VideoEncoder> FakeEncoder(const std::string& name);

// A registry of the named fakes in that order, then x264.
EncoderRegistry FakeRegistry(const std::vector<std::string>& fakes);

}  // namespace newsreel::transcoder::testing
