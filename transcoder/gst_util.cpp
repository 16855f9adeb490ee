#include "transcoder/gst_util.h"

#include "common/log.h"
#include "transcoder/aac_encoder.h"
#include "transcoder/audio_decoder.h"
#include "transcoder/media_allowlist.h"
#include "transcoder/sws_scale.h"
#include "transcoder/video_decoder.h"
#include "transcoder/x264_element.h"

extern "C" {
#include <libavutil/log.h>
}

#include <algorithm>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <thread>

namespace newsreel::transcoder {

namespace {

GST_DEBUG_CATEGORY_STATIC(newsreel_libav_debug);

// libavcodec's and libswscale's messages (av_log) into GStreamer's log, never onto stderr: a
// successful run prints nothing. GStreamer's libav plugin installs the same kind of callback
// when it loads, but a job may not load it.
void AvLogToGst(void*, int level, const char* format, va_list args) {
  if (level > AV_LOG_VERBOSE) return;
  char text[1024];
  std::vsnprintf(text, sizeof text, format, args);
  size_t n = std::strlen(text);
  while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = '\0';
  if (n == 0) return;
  const GstDebugLevel gst_level = level <= AV_LOG_ERROR     ? GST_LEVEL_ERROR
                                  : level <= AV_LOG_WARNING ? GST_LEVEL_WARNING
                                  : level <= AV_LOG_INFO    ? GST_LEVEL_INFO
                                                            : GST_LEVEL_DEBUG;
  GST_CAT_LEVEL_LOG(newsreel_libav_debug, gst_level, nullptr, "%s", text);
}

}  // namespace

void EnsureGstInit() {
  static std::once_flag once;
  std::call_once(once, [] {
    gst_init(nullptr, nullptr);
    UnrankOutsideElements();
    GST_DEBUG_CATEGORY_INIT(newsreel_libav_debug, "newsreel-libav", 0,
                            "libavcodec and libswscale messages");
    av_log_set_callback(&AvLogToGst);
    RegisterSwsScale();
    RegisterX264Element();
    RegisterAacEncoder();
    RegisterVideoDecoder();
    RegisterAudioDecoder();
  });
}

void AddAlwaysPads(GstElementClass* klass, const char* sink_caps, const char* src_caps) {
  for (GstPadDirection direction : {GST_PAD_SINK, GST_PAD_SRC}) {
    GstCaps* caps = gst_caps_from_string(direction == GST_PAD_SINK ? sink_caps : src_caps);
    gst_element_class_add_pad_template(
        klass, gst_pad_template_new(direction == GST_PAD_SINK ? "sink" : "src", direction,
                                    GST_PAD_ALWAYS, caps));
    gst_caps_unref(caps);
  }
}

gboolean RegisterElementType(GType parent, const char* type_name, const char* factory,
                             guint16 class_size, GClassInitFunc class_init, guint16 instance_size,
                             GInstanceInitFunc instance_init, guint rank) {
  GTypeInfo info{};
  info.class_size = class_size;
  info.class_init = class_init;
  info.instance_size = instance_size;
  info.instance_init = instance_init;
  const GType type = g_type_register_static(parent, type_name, &info, static_cast<GTypeFlags>(0));
  return gst_element_register(nullptr, factory, rank, type);
}

GstPtr<GstElement> MakeElement(const char* factory, const char* name) {
  EnsureGstInit();
  GstElement* e = gst_element_factory_make(factory, name);
  if (e == nullptr) return nullptr;
  return GstPtr<GstElement>(GST_ELEMENT(gst_object_ref_sink(e)));
}

Pipeline::Pipeline(const char* name) {
  EnsureGstInit();
  pipeline_.reset(GST_ELEMENT(gst_object_ref_sink(gst_pipeline_new(name))));
  bus_.reset(gst_element_get_bus(pipeline_.get()));
}

Pipeline::~Pipeline() {
  if (abandoned_) {
    (void)pipeline_.release();  // threads may still use it: leak rather than free under them
    (void)bus_.release();
    return;
  }
  if (pipeline_) gst_element_set_state(pipeline_.get(), GST_STATE_NULL);
}

bool Pipeline::StopWithin(std::chrono::milliseconds timeout) {
  if (abandoned_ || !pipeline_) return !abandoned_;
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  auto shared = std::make_shared<Shared>();
  GstElement* p = GST_ELEMENT(gst_object_ref(pipeline_.get()));
  std::thread([p, shared] {
    gst_element_set_state(p, GST_STATE_NULL);
    gst_object_unref(p);
    std::lock_guard<std::mutex> lock(shared->mu);
    shared->done = true;
    shared->cv.notify_all();
  }).detach();
  std::unique_lock<std::mutex> lock(shared->mu);
  if (shared->cv.wait_for(lock, timeout, [&] { return shared->done; })) return true;
  abandoned_ = true;
  return false;
}

GstElement* Pipeline::Add(GstPtr<GstElement> element) {
  GstElement* raw = element.get();
  // gst_bin_add takes its own reference (the floating one was sunk in MakeElement).
  gst_bin_add(bin(), raw);
  return raw;  // `element` drops our reference; the bin keeps its own.
}

std::string DescribeGstMessage(GstMessage* message) {
  GError* err = nullptr;
  gchar* debug = nullptr;
  if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_ERROR) {
    gst_message_parse_error(message, &err, &debug);
  } else if (GST_MESSAGE_TYPE(message) == GST_MESSAGE_WARNING) {
    gst_message_parse_warning(message, &err, &debug);
  } else {
    return GST_MESSAGE_TYPE_NAME(message);
  }
  GErrorPtr err_guard(err);
  GCharPtr debug_guard(debug);
  std::string text = err != nullptr ? err->message : "unknown error";
  GCharPtr src_name(message->src != nullptr ? gst_object_get_name(message->src) : nullptr);
  if (src_name) text += std::string(" [") + src_name.get() + "]";
  return text;
}

namespace {

// GstAutoplugSelectResult values (gst/playback's enum is not in a public header).
constexpr int kAutoplugTry = 0;
constexpr int kAutoplugSkip = 2;

int OnAutoplugSelect(GstElement*, GstPad*, GstCaps*, GstElementFactory* factory,
                     gpointer) noexcept {
  const char* name = gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory));
  if (name != nullptr && RefusesToPlug(name)) {
    NR_LOG(kWarning) << "transcode: refused to plug " << name
                     << " into a pipeline over an upload (it reaches outside the file)";
    return kAutoplugSkip;
  }
  return kAutoplugTry;
}

void OnDeepElementAdded(GstBin*, GstBin*, GstElement* element, gpointer) noexcept {
  GstElementFactory* factory = gst_element_get_factory(element);
  const char* name =
      factory != nullptr ? gst_plugin_feature_get_name(GST_PLUGIN_FEATURE(factory)) : nullptr;
  if (name == nullptr || !g_str_has_prefix(name, "avdec_")) return;
  GObjectClass* klass = G_OBJECT_GET_CLASS(element);
  if (g_object_class_find_property(klass, "direct-rendering") != nullptr)
    g_object_set(element, "direct-rendering", FALSE, nullptr);
  if (g_object_class_find_property(klass, "max-threads") != nullptr) {
    g_object_set(element, "max-threads", DecoderThreads(MachineCores()), nullptr);
  }
}

}  // namespace

void ReplaceProbedEvent(GstPadProbeInfo* info, GstEvent* replacement) {
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  gst_event_set_seqnum(replacement, gst_event_get_seqnum(event));
  gst_event_unref(event);
  GST_PAD_PROBE_INFO_DATA(info) = replacement;
}

void RefuseOutsideElements(GstElement* bin) {
  g_signal_connect(bin, "autoplug-select", G_CALLBACK(&OnAutoplugSelect), nullptr);
}

int DecoderThreads(int cores) { return std::max(1, cores / 4); }

int MachineCores() { return static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

void TuneVideoDecoders(GstElement* decodebin) {
  g_signal_connect(decodebin, "deep-element-added", G_CALLBACK(&OnDeepElementAdded), nullptr);
}

}  // namespace newsreel::transcoder
