#pragma once
// GStreamer and GLib objects wrapped once, in RAII (see STYLE.md).

#include <gst/gst.h>

#include <chrono>
#include <memory>
#include <string>

namespace newsreel::transcoder {

// Initialises GStreamer once per process; safe to call from any thread, any number of times.
// Also registers Newsreel's own elements and sends libavcodec's and libswscale's messages to
// GStreamer's log (category "newsreel-libav") instead of stderr.
void EnsureGstInit();

// Connects to a decodebin's or parsebin's "autoplug-select" so that it never plugs an element
// that reaches outside the input file (media_allowlist.h RefusesToPlug); such an element is
// skipped and logged, and the stream it was for fails as undecodable.
void RefuseOutsideElements(GstElement* autoplugging_bin);

// Puts `replacement` in place of the event a pad probe holds (taking it), with the held event's
// sequence number, and lets the held one go.
void ReplaceProbedEvent(GstPadProbeInfo* info, GstEvent* replacement);

// For Newsreel's own elements (x264_element.h, sws_scale.h, aac_encoder.h, video_decoder.h): the
// always-present "sink" and "src" pads, with caps given as strings.
void AddAlwaysPads(GstElementClass* klass, const char* sink_caps, const char* src_caps);

// Registers, in this process only, a GType derived from `parent` and an element factory of it
// named `factory`. Rank none: created by name only; a decoder ranked above another is the one
// decodebin plugs. Call once per type.
gboolean RegisterElementType(GType parent, const char* type_name, const char* factory,
                             guint16 class_size, GClassInitFunc class_init, guint16 instance_size,
                             GInstanceInitFunc instance_init, guint rank = GST_RANK_NONE);

// Sets up every libav video decoder that `decodebin` plugs (now or later, at any depth). H.264
// and HEVC go to newsreelvideodec (video_decoder.h), which does the same by itself; this is for
// the rest (MPEG-2, MPEG-4 Part 2, ...):
// - it decodes into libav's own frames and copies each picture out into a pooled buffer
//   ("direct-rendering" off). Decoding straight into GStreamer's buffers saves no copy here:
//   libav keeps its reference frames, so GstVideoDecoder copies almost every picture again on
//   the way out, into freshly allocated memory (heaptrack, 13 s 360p clip: 393 such copies alive
//   at the peak, 10 MB);
// - it runs DecoderThreads(this machine's cores) threads, not libav's cores + 1.
void TuneVideoDecoders(GstElement* decodebin);

// Threads for the decoder of a transcode on `cores` cores: one per four cores, at least one.
// Decoding is about a seventh of a ladder's CPU (docs/performance.md), so one thread keeps up
// with the encoders of up to ~7 cores; each extra frame thread holds its own frames. On 2 cores
// one thread instead of libav's three: the same wall time, 3.6 MB less peak memory on a 360p
// clip and 16 MB less on a 1080p ladder.
int DecoderThreads(int cores);

// This machine's cores as std::thread counts them, at least one.
int MachineCores();

struct GstObjectUnref {
  void operator()(gpointer p) const {
    if (p != nullptr) gst_object_unref(p);
  }
};
struct GstMiniObjectUnref {
  void operator()(GstMiniObject* p) const {
    if (p != nullptr) gst_mini_object_unref(p);
  }
};
struct GObjectUnref {
  void operator()(gpointer p) const {
    if (p != nullptr) g_object_unref(p);
  }
};
struct GFree {
  void operator()(gpointer p) const { g_free(p); }
};
struct GErrorFree {
  void operator()(GError* e) const {
    if (e != nullptr) g_error_free(e);
  }
};

// Owns one reference to a GstObject subclass (element, pad, bus, ...).
template <typename T>
using GstPtr = std::unique_ptr<T, GstObjectUnref>;
template <typename T>
using GObjectPtr = std::unique_ptr<T, GObjectUnref>;
using GCharPtr = std::unique_ptr<gchar, GFree>;
using GErrorPtr = std::unique_ptr<GError, GErrorFree>;

struct CapsUnref {
  void operator()(GstCaps* c) const {
    if (c != nullptr) gst_caps_unref(c);
  }
};
struct MessageUnref {
  void operator()(GstMessage* m) const {
    if (m != nullptr) gst_message_unref(m);
  }
};
struct SampleUnref {
  void operator()(GstSample* s) const {
    if (s != nullptr) gst_sample_unref(s);
  }
};
using CapsPtr = std::unique_ptr<GstCaps, CapsUnref>;
using MessagePtr = std::unique_ptr<GstMessage, MessageUnref>;
using SamplePtr = std::unique_ptr<GstSample, SampleUnref>;

// Maps a buffer for reading for the guard's lifetime. Check ok() before using data().
class BufferMap {
 public:
  explicit BufferMap(GstBuffer* buffer) : buffer_(buffer) {
    ok_ = gst_buffer_map(buffer_, &info_, GST_MAP_READ);
  }
  ~BufferMap() {
    if (ok_) gst_buffer_unmap(buffer_, &info_);
  }
  BufferMap(const BufferMap&) = delete;
  BufferMap& operator=(const BufferMap&) = delete;
  bool ok() const { return ok_; }
  const guint8* data() const { return info_.data; }
  gsize size() const { return info_.size; }

 private:
  GstBuffer* buffer_;
  GstMapInfo info_{};
  bool ok_ = false;
};

// Creates an element from a factory, sinking its floating reference so the caller owns it.
// Returns null when the factory is not installed.
GstPtr<GstElement> MakeElement(const char* factory, const char* name = nullptr);

// The top-level pipeline: owns the element and its bus; the destructor sets state NULL.
class Pipeline {
 public:
  explicit Pipeline(const char* name);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  GstElement* element() const { return pipeline_.get(); }
  GstBin* bin() const { return GST_BIN(pipeline_.get()); }
  GstBus* bus() const { return bus_.get(); }

  // Sets state NULL, waiting at most `timeout`. Returns false when a streaming thread stayed
  // blocked (seen in splitmuxsink on shutdown): the pipeline is then abandoned, its threads
  // and memory left as they are, and the destructor does not touch it again.
  bool StopWithin(std::chrono::milliseconds timeout);
  bool abandoned() const { return abandoned_; }

  // Adds an element created by MakeElement; the bin takes over the reference held by `element`.
  // Returns the borrowed pointer, valid while the pipeline lives.
  GstElement* Add(GstPtr<GstElement> element);

 private:
  GstPtr<GstElement> pipeline_;
  GstPtr<GstBus> bus_;
  bool abandoned_ = false;
};

// "message (debug detail)" from an error or warning message.
std::string DescribeGstMessage(GstMessage* message);

}  // namespace newsreel::transcoder
