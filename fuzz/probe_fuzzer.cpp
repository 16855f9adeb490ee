// The probe's handling of untrusted bytes (transcoder/probe.h Probe, with the upload allow-list
// of transcoder/media_allowlist.h), as a worker runs it on an upload: the input's bytes are
// written to a file and probed in this process, GStreamer and all.
//
// Input: the bytes of an uploaded file.
//
// Invariants:
//   - No crash, no sanitizer report, no exception; Probe answers with facts or an error.
//   - Nothing reaches outside the file: a GStreamer tracer hook sees every element created in
//     the process and fails the run when one of the elements the allow-list refuses to plug is
//     made (network sources, playlist and stream-description demuxers, other files' sources) or
//     any element that handles URIs other than file:// (and the in-process appsrc/appsink), and
//     when a filesrc is started on any other path than the input's.
//   - A file refused as "not a media file" by the allow-list is refused by Probe as well.
//
// Only our code is instrumented for coverage (GStreamer's plugins are Debian's builds): the
// fuzzer steers the allow-list's typefinding and the probe's reading of what GstDiscoverer
// found, and GStreamer's demuxers get the mutated bytes.

#include <gst/gst.h>
#include <gst/gsttracer.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "transcoder/gst_util.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/probe.h"

// Leaks inside Debian's shared libraries (GLib's and GStreamer's type registrations and caches,
// the decoders of gst-libav) are not ours to fix: any leak with a frame in one of them is
// suppressed. What our code allocates itself is still checked.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:/lib/x86_64-linux-gnu/\n"
         "leak:/usr/lib/x86_64-linux-gnu/\n";
}

namespace newsreel::transcoder {
namespace {

fuzz::ScratchDir& Scratch() {
  static fuzz::ScratchDir dir("probe");
  return dir;
}

// The one path a filesrc may read: the input being probed.
const std::string& InputPath() {
  static const std::string path = (Scratch().path() / "upload.mp4").string();
  return path;
}

std::string FactoryName(GstElement* element) {
  GstElementFactory* factory = gst_element_get_factory(element);
  const char* name = factory ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory)) : nullptr;
  return name ? name : G_OBJECT_TYPE_NAME(element);
}

// GstTracerHookElementNew.
void OnElementNew(GObject*, GstClockTime, GstElement* element) {
  const std::string name = FactoryName(element);
  if (name != "filesrc")
    FUZZ_CHECK(!RefusesToPlug(name), "element " + name + " was created while probing an upload");
  if (GST_IS_URI_HANDLER(element) && name != "filesrc") {
    // Only in-process URIs: the probe's own appsink (appsink://) is one.
    const gchar* const* protocols = gst_uri_handler_get_protocols(GST_URI_HANDLER(element));
    for (int i = 0; protocols && protocols[i]; ++i) {
      const std::string_view protocol = protocols[i];
      FUZZ_CHECK(protocol == "file" || protocol == "appsink" || protocol == "appsrc",
                 "element " + name + " handling " + protocols[i] + ":// was created");
    }
  }
}

// GstTracerHookElementChangeStatePre: a filesrc starts only on the input.
void OnChangeStatePre(GObject*, GstClockTime, GstElement* element, GstStateChange transition) {
  if (transition != GST_STATE_CHANGE_NULL_TO_READY || FactoryName(element) != "filesrc") return;
  gchar* location = nullptr;
  g_object_get(element, "location", &location, nullptr);
  const std::string where = location ? location : "(none)";
  g_free(location);
  FUZZ_CHECK(where == InputPath(), "a filesrc was started on " + where);
}

}  // namespace
}  // namespace newsreel::transcoder

// A tracer of our own (GStreamer's tracing hooks are public API: gst/gsttracer.h).
struct NrGuardTracer {
  GstTracer parent;
};
struct NrGuardTracerClass {
  GstTracerClass parent_class;
};
G_DEFINE_TYPE(NrGuardTracer, nr_guard_tracer, GST_TYPE_TRACER)
static void nr_guard_tracer_class_init(NrGuardTracerClass*) {}
static void nr_guard_tracer_init(NrGuardTracer* self) {
  gst_tracing_register_hook(GST_TRACER(self), "element-new",
                            G_CALLBACK(&newsreel::transcoder::OnElementNew));
  gst_tracing_register_hook(GST_TRACER(self), "element-change-state-pre",
                            G_CALLBACK(&newsreel::transcoder::OnChangeStatePre));
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace newsreel::transcoder;
  setenv("NEWSREEL_LOG", "error", 1);
  EnsureGstInit();
  // Lives as long as the process: the hooks hold a reference to it.
  g_object_new(nr_guard_tracer_get_type(), nullptr);
  InputPath();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace newsreel::transcoder;
  const std::string& path = InputPath();
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto allowed = CheckMediaFormat(path);
  // A short timeout: GStreamer 1.22's discoverer, run again in the same process, sometimes misses
  // a demuxer's early error and waits for the whole timeout (a worker probes once per process).
  auto probed = Probe(path, std::chrono::seconds(1));
  if (!allowed.ok() && size > 0)
    FUZZ_CHECK(!probed.ok() && probed.status().code() == allowed.status().code(),
               "allow-list: " + allowed.status().ToString() + "; probe: " +
                   (probed.ok() ? std::string("admitted") : probed.status().ToString()));
  return 0;
}
