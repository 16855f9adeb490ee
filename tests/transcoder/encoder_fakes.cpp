#include "tests/transcoder/encoder_fakes.h"

#include <atomic>
#include <mutex>

namespace newsreel::transcoder::testing {
namespace {

enum Kind { kGood = 0, kBroken, kError, kHang };
enum { PROP_0, PROP_BITRATE, PROP_KEY_INT_MAX, PROP_FAIL_AFTER };

struct FakeEnc {
  GstBin parent;
  GstElement* x264;  // owned by the bin
  int kind;
  int fail_after;
  std::atomic<int> units;
};
struct FakeEncClass {
  GstBinClass parent_class;
  int kind;
};

void SetProperty(GObject* object, guint id, const GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<FakeEnc*>(object);
  switch (id) {
    case PROP_BITRATE:
      g_object_set(self->x264, "bitrate", g_value_get_uint(value), nullptr);
      break;
    case PROP_KEY_INT_MAX:
      g_object_set(self->x264, "key-int-max", g_value_get_uint(value), nullptr);
      break;
    case PROP_FAIL_AFTER:
      self->fail_after = g_value_get_int(value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, spec);
  }
}

void GetProperty(GObject* object, guint id, GValue* value, GParamSpec* spec) {
  auto* self = reinterpret_cast<FakeEnc*>(object);
  switch (id) {
    case PROP_FAIL_AFTER:
      g_value_set_int(value, self->fail_after);
      break;
    default: {
      guint v = 0;
      g_object_get(self->x264, id == PROP_BITRATE ? "bitrate" : "key-int-max", &v, nullptr);
      g_value_set_uint(value, v);
    }
  }
}

GstPadProbeReturn OnOutput(GstPad*, GstPadProbeInfo* info, gpointer data) noexcept {
  auto* self = static_cast<FakeEnc*>(data);
  if (self->kind == kBroken) {
    GstBuffer* garbage = gst_buffer_new_allocate(nullptr, 64, nullptr);
    gst_buffer_memset(garbage, 0, 0x5a, 64);
    gst_buffer_copy_into(garbage, GST_PAD_PROBE_INFO_BUFFER(info), GST_BUFFER_COPY_METADATA, 0, -1);
    gst_buffer_unref(GST_PAD_PROBE_INFO_BUFFER(info));
    GST_PAD_PROBE_INFO_DATA(info) = garbage;
    return GST_PAD_PROBE_OK;
  }
  if (self->kind == kError && ++self->units > self->fail_after) {
    GError* err = g_error_new_literal(GST_STREAM_ERROR, GST_STREAM_ERROR_ENCODE,
                                      "fake hardware encoder lost its device");
    gst_element_post_message(GST_ELEMENT(self),
                             gst_message_new_error(GST_OBJECT(self), err, "fakeerrorh264enc"));
    g_error_free(err);
    return GST_PAD_PROBE_DROP;
  }
  return GST_PAD_PROBE_OK;
}

GstPadProbeReturn SwallowInput(GstPad*, GstPadProbeInfo* info, gpointer) noexcept {
  if ((info->type & GST_PAD_PROBE_TYPE_BUFFER) != 0) return GST_PAD_PROBE_DROP;
  GstEvent* event = GST_PAD_PROBE_INFO_EVENT(info);
  return GST_EVENT_TYPE(event) == GST_EVENT_EOS ? GST_PAD_PROBE_DROP : GST_PAD_PROBE_OK;
}

void InstanceInit(GTypeInstance* instance, gpointer klass) {
  auto* self = reinterpret_cast<FakeEnc*>(instance);
  self->kind = static_cast<FakeEncClass*>(klass)->kind;
  self->fail_after = 1 << 30;
  new (&self->units) std::atomic<int>(0);
  self->x264 = gst_element_factory_make("x264enc", nullptr);
  g_object_set(self->x264, "speed-preset", 1 /* ultrafast */, "byte-stream", TRUE, "threads", 1u,
               "option-string", "scenecut=0:open-gop=0", nullptr);
  gst_bin_add(GST_BIN(self), self->x264);
  GstPad* sink = gst_element_get_static_pad(self->x264, "sink");
  GstPad* src = gst_element_get_static_pad(self->x264, "src");
  gst_pad_add_probe(src, GST_PAD_PROBE_TYPE_BUFFER, OnOutput, self, nullptr);
  if (self->kind == kHang)
    gst_pad_add_probe(sink,
                      static_cast<GstPadProbeType>(GST_PAD_PROBE_TYPE_BUFFER |
                                                   GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
                      SwallowInput, self, nullptr);
  gst_element_add_pad(GST_ELEMENT(self), gst_ghost_pad_new("sink", sink));
  gst_element_add_pad(GST_ELEMENT(self), gst_ghost_pad_new("src", src));
  gst_object_unref(sink);
  gst_object_unref(src);
}

void ClassInit(gpointer klass, gpointer data) {
  auto* k = static_cast<FakeEncClass*>(klass);
  k->kind = GPOINTER_TO_INT(data);
  GObjectClass* object_class = G_OBJECT_CLASS(klass);
  object_class->set_property = SetProperty;
  object_class->get_property = GetProperty;
  g_object_class_install_property(
      object_class, PROP_BITRATE,
      g_param_spec_uint("bitrate", "Bitrate", "kbit/s", 1, 2048000, 2048,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_KEY_INT_MAX,
      g_param_spec_uint("key-int-max", "Keyframe interval", "frames", 0, G_MAXINT, 0,
                        static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  g_object_class_install_property(
      object_class, PROP_FAIL_AFTER,
      g_param_spec_int("fail-after", "Fail after", "access units before the error", 0, G_MAXINT,
                       1 << 30,
                       static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
  gst_element_class_set_static_metadata(GST_ELEMENT_CLASS(klass), "Fake hardware H.264 encoder",
                                        "Codec/Encoder/Video/Hardware", "x264enc in disguise",
                                        "newsreel tests");
}

void RegisterOne(const char* element, const char* type_name, Kind kind) {
  GTypeInfo info{};
  info.class_size = sizeof(FakeEncClass);
  info.class_init = ClassInit;
  info.class_data = GINT_TO_POINTER(kind);
  info.instance_size = sizeof(FakeEnc);
  info.instance_init = InstanceInit;
  GType type = g_type_register_static(GST_TYPE_BIN, type_name, &info, static_cast<GTypeFlags>(0));
  gst_element_register(nullptr, element, GST_RANK_PRIMARY, type);
}

EncoderConfig MapFake(const VideoEncodeSettings& s) {
  return {{{"bitrate", std::to_string(std::max(1, s.bitrate / 1000))},
           {"key-int-max", std::to_string(s.gop_frames)}},
          "video/x-h264,profile=" + s.profile + ",stream-format=byte-stream,alignment=au"};
}
// Passes a 30-frame trial, fails after about a second and a half of a real job.
EncoderConfig MapFakeError(const VideoEncodeSettings& s) {
  EncoderConfig c = MapFake(s);
  c.properties.push_back({"fail-after", "45"});
  return c;
}

}  // namespace

void RegisterFakeEncoders() {
  static std::once_flag once;
  std::call_once(once, [] {
    EnsureGstInit();
    RegisterOne("fakehwh264enc", "NewsreelFakeHwH264Enc", kGood);
    RegisterOne("fakebrokenh264enc", "NewsreelFakeBrokenH264Enc", kBroken);
    RegisterOne("fakeerrorh264enc", "NewsreelFakeErrorH264Enc", kError);
    RegisterOne("fakehangh264enc", "NewsreelFakeHangH264Enc", kHang);
  });
}

std::unique_ptr<VideoEncoder> FakeEncoder(const std::string& name) {
  RegisterFakeEncoders();
  auto make = [&](const char* element, TableEncoder::MapFn map) {
    return std::make_unique<TableEncoder>(name, element, VideoCodec::kH264, DeviceFamily::kNvidia,
                                          true, map);
  };
  if (name == "fake-hw") return make("fakehwh264enc", MapFake);
  if (name == "fake-broken") return make("fakebrokenh264enc", MapFake);
  if (name == "fake-error") return make("fakeerrorh264enc", MapFakeError);
  if (name == "fake-hang") return make("fakehangh264enc", MapFake);
  return nullptr;
}

EncoderRegistry FakeRegistry(const std::vector<std::string>& fakes) {
  std::vector<std::unique_ptr<VideoEncoder>> v;
  for (const auto& f : fakes) v.push_back(FakeEncoder(f));
  v.push_back(std::make_unique<X264Encoder>());
  return EncoderRegistry(std::move(v));
}

}  // namespace newsreel::transcoder::testing
