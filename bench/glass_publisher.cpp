// The glass-to-glass meter's publisher (bench/glass_to_glass.sh): a live test picture whose
// every frame carries, in a QR code, the wall-clock time (milliseconds since the Unix epoch) at
// which it was made, encoded as a reporter's phone would (H.264 with x264's zero-latency tuning,
// AAC) and pushed over SRT in MPEG-TS. A viewer on the same host reads the code back from each
// displayed frame; display time minus the code's time is the glass-to-glass delay.
//
//   newsreel_glass_publisher --uri srt://127.0.0.1:9000 --streamid '#!::r=ID,m=publish,s=KEY' \
//       [--width 640] [--height 360] [--fps 30] [--pixel-size 8] [--bitrate-kbps 1500] [--seconds
//       0]
//
// The time is taken in a pad probe just before qroverlay draws the frame, that is as the live
// source hands the frame on.
// Runs until SIGINT/SIGTERM, the end of --seconds, or an SRT error (exit 1, said on stderr).
#include <glib-unix.h>
#include <gst/gst.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Options {
  std::string uri;
  std::string streamid;
  std::string passphrase;
  int width = 640;
  int height = 360;
  int fps = 30;
  double pixel_size = 8;
  int bitrate_kbps = 1500;
  int seconds = 0;
};

GMainLoop* g_loop = nullptr;
int g_exit_code = 0;

void Usage() {
  std::fprintf(
      stderr,
      "usage: newsreel_glass_publisher --uri srt://HOST:PORT --streamid ID [--passphrase P]\n"
      "         [--width 640] [--height 360] [--fps 30] [--pixel-size 8] [--bitrate-kbps 1500] "
      "[--seconds 0]\n");
}

bool ParseInt(const char* text, int low, int high, int* out) {
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < low || value > high) return false;
  *out = static_cast<int>(value);
  return true;
}

bool Parse(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    bool ok = true;
    if (flag == "--uri")
      options->uri = value;
    else if (flag == "--streamid")
      options->streamid = value;
    else if (flag == "--passphrase")
      options->passphrase = value;
    else if (flag == "--width")
      ok = ParseInt(value, 64, 3840, &options->width);
    else if (flag == "--height")
      ok = ParseInt(value, 64, 2160, &options->height);
    else if (flag == "--fps")
      ok = ParseInt(value, 1, 120, &options->fps);
    else if (flag == "--bitrate-kbps")
      ok = ParseInt(value, 50, 50000, &options->bitrate_kbps);
    else if (flag == "--seconds")
      ok = ParseInt(value, 0, 86400, &options->seconds);
    else if (flag == "--pixel-size") {
      options->pixel_size = std::atof(value);
      ok = options->pixel_size >= 1 && options->pixel_size <= 64;
    } else
      ok = false;
    if (!ok) return false;
  }
  return !options->uri.empty() && !options->streamid.empty();
}

// Stamps the wall-clock time into the QR code of the frame about to be drawn. Through the
// buffer's GstQROverlayMeta (qroverlay 1.22+): qroverlay 1.22 keeps drawing its first code when
// only its `data` property changes.
GstPadProbeReturn StampTime(GstPad*, GstPadProbeInfo* info, gpointer) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  std::string ms =
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now).count());
  GstBuffer* buffer = gst_buffer_make_writable(gst_pad_probe_info_get_buffer(info));
  GST_PAD_PROBE_INFO_DATA(info) = buffer;
  GstCustomMeta* meta = gst_buffer_add_custom_meta(buffer, "GstQROverlayMeta");
  if (meta != nullptr) {
    gst_structure_set(gst_custom_meta_get_structure(meta), "data", G_TYPE_STRING, ms.c_str(),
                      "keep_data", G_TYPE_BOOLEAN, FALSE, nullptr);
  }
  return GST_PAD_PROBE_OK;
}

gboolean OnBusMessage(GstBus*, GstMessage* message, gpointer) {
  switch (GST_MESSAGE_TYPE(message)) {
    case GST_MESSAGE_ERROR: {
      GError* error = nullptr;
      gchar* debug = nullptr;
      gst_message_parse_error(message, &error, &debug);
      std::fprintf(stderr, "glass_publisher: %s (%s)\n", error->message, debug ? debug : "");
      g_clear_error(&error);
      g_free(debug);
      g_exit_code = 1;
      g_main_loop_quit(g_loop);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit(g_loop);
      break;
    default:
      break;
  }
  return TRUE;
}

gboolean OnStop(gpointer) {
  g_main_loop_quit(g_loop);
  return G_SOURCE_REMOVE;
}

}  // namespace

int main(int argc, char** argv) {
  gst_init(&argc, &argv);
  Options options;
  if (!Parse(argc, argv, &options)) {
    Usage();
    return 2;
  }
  // A GOP of one second and no B-frames: what a live encoder on a phone sends, and what lets
  // the server cut short segments and parts without waiting on reordered frames.
  std::string description =
      "videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width=" +
      std::to_string(options.width) + ",height=" + std::to_string(options.height) +
      ",framerate=" + std::to_string(options.fps) +
      "/1 ! qroverlay name=qr x=4 y=6 pixel-size=" + std::to_string(options.pixel_size) +
      " ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast bframes=0 key-int-max=" +
      std::to_string(options.fps) + " bitrate=" + std::to_string(options.bitrate_kbps) +
      " ! video/x-h264,profile=high ! h264parse config-interval=-1 ! queue ! mpegtsmux name=mux "
      "alignment=7 "
      "! srtsink name=out wait-for-connection=false "
      "audiotestsrc is-live=true wave=sine freq=440 ! audio/x-raw,rate=48000,channels=2 ! "
      "audioconvert "
      "! avenc_aac bitrate=96000 ! aacparse ! queue ! mux.";
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  if (pipeline == nullptr || error != nullptr) {
    std::fprintf(stderr, "glass_publisher: cannot build the pipeline: %s\n",
                 error ? error->message : "?");
    return 1;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "out");
  g_object_set(sink, "uri", options.uri.c_str(), "streamid", options.streamid.c_str(), nullptr);
  if (!options.passphrase.empty())
    g_object_set(sink, "passphrase", options.passphrase.c_str(), nullptr);
  gst_object_unref(sink);

  GstElement* overlay = gst_bin_get_by_name(GST_BIN(pipeline), "qr");
  GstPad* pad = gst_element_get_static_pad(overlay, "sink");
  if (pad == nullptr) {
    // qroverlay is a bin whose sink pad is a ghost pad.
    pad = gst_element_get_static_pad(overlay, "video_sink");
  }
  if (pad == nullptr) {
    std::fprintf(stderr, "glass_publisher: qroverlay has no sink pad\n");
    return 1;
  }
  gst_pad_add_probe(pad, GST_PAD_PROBE_TYPE_BUFFER, StampTime, nullptr, nullptr);
  gst_object_unref(pad);

  g_loop = g_main_loop_new(nullptr, FALSE);
  GstBus* bus = gst_element_get_bus(pipeline);
  gst_bus_add_watch(bus, OnBusMessage, nullptr);
  gst_object_unref(bus);
  g_unix_signal_add(SIGINT, OnStop, nullptr);
  g_unix_signal_add(SIGTERM, OnStop, nullptr);
  if (options.seconds > 0) g_timeout_add_seconds(options.seconds, OnStop, nullptr);

  if (gst_element_set_state(pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    std::fprintf(stderr,
                 "glass_publisher: the pipeline does not start (is the SRT listener there?)\n");
    return 1;
  }
  std::fprintf(stderr, "glass_publisher: %dx%d@%d, QR %.1f px per module, to %s\n", options.width,
               options.height, options.fps, options.pixel_size, options.uri.c_str());
  g_main_loop_run(g_loop);
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(overlay);
  gst_object_unref(pipeline);
  g_main_loop_unref(g_loop);
  return g_exit_code;
}
