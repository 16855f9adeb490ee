#include "transcoder/encoder_trial.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "common/log.h"

extern "C" {
#include <libavcodec/avcodec.h>
}

namespace newsreel::transcoder {
namespace {

// NAL unit types found in one byte-stream access unit.
std::vector<int> NalTypes(const guint8* data, gsize size, VideoCodec codec) {
  std::vector<int> types;
  for (gsize i = 0; i + 3 < size; ++i) {
    if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) {
      const guint8 header = data[i + 3];
      types.push_back(codec == VideoCodec::kH265 ? (header >> 1) & 0x3f : header & 0x1f);
      i += 2;
    }
  }
  return types;
}

bool Has(const std::vector<int>& v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

// Shared between the caller and the thread that runs the trial pipeline: when a broken encoder
// blocks even the shutdown, the caller gives up waiting and the thread keeps this alive.
struct Trial {
  VideoCodec codec = VideoCodec::kH264;
  std::unique_ptr<Pipeline> pipeline;
  // Written by streaming threads, read after the pipeline stopped.
  std::mutex mu;
  std::vector<int64_t> idr_at;      // access-unit indices of IDR frames
  std::vector<int64_t> bad_idr;     // IDRs without parameter sets
  std::vector<std::string> stream;  // the access units, for the decoder
  std::atomic<int64_t> units{0};

  // Result, handed over under done_mu.
  std::mutex done_mu;
  std::condition_variable done_cv;
  bool done = false;
  Status result;
};

GstPadProbeReturn OnAccessUnit(GstPad*, GstPadProbeInfo* info, gpointer data) noexcept {
  auto* t = static_cast<Trial*>(data);
  GstBuffer* b = GST_PAD_PROBE_INFO_BUFFER(info);
  const int64_t index = t->units.fetch_add(1);
  BufferMap map(b);
  if (!map.ok()) return GST_PAD_PROBE_OK;
  auto types = NalTypes(map.data(), map.size(), t->codec);
  const bool h265 = t->codec == VideoCodec::kH265;
  const bool idr = h265 ? (Has(types, 19) || Has(types, 20)) : Has(types, 5);
  std::lock_guard<std::mutex> lock(t->mu);
  t->stream.emplace_back(reinterpret_cast<const char*>(map.data()), map.size());
  if (!idr) return GST_PAD_PROBE_OK;
  const bool params = h265 ? (Has(types, 32) && Has(types, 33) && Has(types, 34))
                           : (Has(types, 7) && Has(types, 8));
  t->idr_at.push_back(index);
  if (!params) t->bad_idr.push_back(index);
  return GST_PAD_PROBE_OK;
}

// The frames libavcodec's decoder makes of byte-stream access units, or -1 when it has no
// decoder for the codec. libavcodec directly, not GStreamer's libav plugin: loading that plugin
// costs a job ~25 MB (docs/performance.md), and the trial would load it for every job.
int DecodedFrames(VideoCodec codec, const std::vector<std::string>& units) {
  const AVCodec* decoder =
      avcodec_find_decoder(codec == VideoCodec::kH265 ? AV_CODEC_ID_HEVC : AV_CODEC_ID_H264);
  if (decoder == nullptr) return -1;
  AVCodecContext* context = avcodec_alloc_context3(decoder);
  AVPacket* packet = av_packet_alloc();
  AVFrame* frame = av_frame_alloc();
  int frames = 0;
  if (context != nullptr && packet != nullptr && frame != nullptr &&
      avcodec_open2(context, decoder, nullptr) >= 0) {
    auto take = [&] {
      while (avcodec_receive_frame(context, frame) >= 0) {
        ++frames;
        av_frame_unref(frame);
      }
    };
    for (const std::string& unit : units) {
      if (av_new_packet(packet, static_cast<int>(unit.size())) < 0) break;
      std::memcpy(packet->data, unit.data(), unit.size());
      const int sent = avcodec_send_packet(context, packet);
      av_packet_unref(packet);
      if (sent < 0 && sent != AVERROR(EAGAIN)) break;
      take();
    }
    avcodec_send_packet(context, nullptr);  // the frames it still holds
    take();
  }
  av_frame_free(&frame);
  av_packet_free(&packet);
  avcodec_free_context(&context);
  return frames;
}

// Runs on the trial thread: to EOS, an error, or the deadline; always leaves the pipeline NULL.
Status RunTrial(Trial& t, std::chrono::milliseconds timeout) {
  GstElement* p = t.pipeline->element();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (gst_element_set_state(p, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    MessagePtr msg(gst_bus_pop_filtered(t.pipeline->bus(), GST_MESSAGE_ERROR));
    gst_element_set_state(p, GST_STATE_NULL);
    return Unsupported("the encoder did not start" +
                       (msg ? ": " + DescribeGstMessage(msg.get()) : std::string()));
  }
  Status result = Status::Ok();
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result = Status(ErrorCode::kTimeout,
                      "no end of stream within " + std::to_string(timeout.count()) + " ms (" +
                          std::to_string(t.units.load()) + " access units so far)");
      break;
    }
    MessagePtr msg(gst_bus_timed_pop_filtered(
        t.pipeline->bus(), static_cast<GstClockTime>(left.count()),
        static_cast<GstMessageType>(GST_MESSAGE_ERROR | GST_MESSAGE_EOS)));
    if (!msg) continue;
    if (GST_MESSAGE_TYPE(msg.get()) == GST_MESSAGE_ERROR)
      result = Unsupported("encoder error: " + DescribeGstMessage(msg.get()));
    break;
  }
  gst_element_set_state(p, GST_STATE_NULL);
  return result;
}

Status Judge(Trial& t, const TrialOptions& o) {
  const int64_t units = t.units.load();
  if (units == 0) return Unsupported("the encoder produced no parsable access units");
  std::lock_guard<std::mutex> lock(t.mu);
  const int decoded = DecodedFrames(t.codec, t.stream);
  if (decoded >= 0 && decoded != o.frames)
    return Unsupported("the stream decoded to " + std::to_string(decoded) + " of " +
                       std::to_string(o.frames) + " frames");
  if (decoded < 0 && units != o.frames)
    return Unsupported("the encoder produced " + std::to_string(units) + " access units for " +
                       std::to_string(o.frames) + " frames");
  std::vector<int64_t> want;
  for (int64_t i = 0; i < o.frames; i += o.gop_frames) want.push_back(i);
  if (t.idr_at != want) {
    std::string got;
    for (int64_t i : t.idr_at) got += (got.empty() ? "" : ",") + std::to_string(i);
    return Unsupported("IDR frames at [" + got + "], expected one every " +
                       std::to_string(o.gop_frames) + " frames");
  }
  if (!t.bad_idr.empty())
    return Unsupported("IDR frame " + std::to_string(t.bad_idr.front()) +
                       " does not carry its parameter sets");
  return Status::Ok();
}

}  // namespace

Status TrialEncode(const VideoEncoder& encoder, const TrialOptions& o) {
  EnsureGstInit();
  auto t = std::make_shared<Trial>();
  t->codec = encoder.codec();
  t->pipeline = std::make_unique<Pipeline>("encoder-trial");
  Pipeline& pl = *t->pipeline;
  const bool h265 = encoder.codec() == VideoCodec::kH265;

  VideoEncodeSettings s;
  s.width = o.width;
  s.height = o.height;
  s.fps_n = 30;
  s.fps_d = 1;
  s.bitrate = 500000;
  s.max_bitrate = 500000;
  s.buffer_size = 1000000;
  s.gop_frames = o.gop_frames;
  auto bin = encoder.CreateBin(s);
  if (!bin.ok()) return bin.status();

  auto src = MakeElement("videotestsrc");
  auto raw = MakeElement("capsfilter");
  auto parse = MakeElement(h265 ? "h265parse" : "h264parse");
  auto parsed = MakeElement("capsfilter");
  auto sink = MakeElement("fakesink");
  if (!src || !raw || !parse || !parsed || !sink)
    return NotFound("the trial needs videotestsrc, the codec parser and fakesink");
  g_object_set(src.get(), "num-buffers", o.frames, "pattern", 18 /* ball: moves */, nullptr);
  CapsPtr raw_caps(
      gst_caps_from_string(("video/x-raw,format=I420,width=" + std::to_string(o.width) +
                            ",height=" + std::to_string(o.height) + ",framerate=30/1")
                               .c_str()));
  g_object_set(raw.get(), "caps", raw_caps.get(), nullptr);
  CapsPtr au_caps(
      gst_caps_from_string(h265 ? "video/x-h265,stream-format=byte-stream,alignment=au"
                                : "video/x-h264,stream-format=byte-stream,alignment=au"));
  g_object_set(parsed.get(), "caps", au_caps.get(), nullptr);
  g_object_set(sink.get(), "sync", FALSE, nullptr);

  GstElement* e_src = pl.Add(std::move(src));
  GstElement* e_raw = pl.Add(std::move(raw));
  GstElement* e_enc = pl.Add(std::move(bin.value()));
  GstElement* e_parse = pl.Add(std::move(parse));
  GstElement* e_parsed = pl.Add(std::move(parsed));
  GstElement* e_sink = pl.Add(std::move(sink));
  if (!gst_element_link_many(e_src, e_raw, e_enc, e_parse, e_parsed, e_sink, nullptr))
    return Unsupported("the encoder cannot be linked to raw video and its parser");
  {
    GstPtr<GstPad> pad(gst_element_get_static_pad(e_parsed, "src"));
    gst_pad_add_probe(pad.get(), GST_PAD_PROBE_TYPE_BUFFER, OnAccessUnit, t.get(), nullptr);
  }

  std::thread worker([t, timeout = o.timeout] {
    Status r = RunTrial(*t, timeout);
    std::lock_guard<std::mutex> lock(t->done_mu);
    t->result = r;
    t->done = true;
    t->done_cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(t->done_mu);
  // The deadline inside the trial stops a stream that never ends; the grace here covers an
  // encoder that blocks its own shutdown (a wedged driver): then the thread is left behind.
  if (!t->done_cv.wait_for(lock, o.timeout + std::chrono::seconds(5), [&] { return t->done; })) {
    lock.unlock();
    worker.detach();
    NR_LOG(kError) << "encoder trial: " << encoder.factory() << " hangs and cannot be stopped";
    return Status(ErrorCode::kTimeout, "the encoder hangs and does not stop");
  }
  lock.unlock();
  worker.join();
  NR_RETURN_IF_ERROR(t->result);
  return Judge(*t, o);
}

EncoderProver::EncoderProver(const EncoderRegistry& registry, TrialOptions options)
    : registry_(registry), options_(options) {}

EncoderProver& EncoderProver::Default() {
  static EncoderProver* prover = new EncoderProver(EncoderRegistry::Default());
  return *prover;
}

namespace {

// What the registry says of an encoder, and whether its element is installed; not yet proven.
EncoderReport Unproven(const VideoEncoder& encoder) {
  EncoderReport r;
  r.name = encoder.name();
  r.element = encoder.factory();
  r.codec = VideoCodecName(encoder.codec());
  r.hardware = encoder.hardware();
  r.present = encoder.Present();
  return r;
}

}  // namespace

EncoderReport EncoderProver::Check(const VideoEncoder& encoder) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = results_.find(encoder.name());
  if (it != results_.end()) return it->second;
  EncoderReport r = Unproven(encoder);
  if (r.present) {
    Status s = TrialEncode(encoder, options_);
    r.proven = s.ok();
    if (!s.ok()) {
      r.error = s.message();
      NR_LOG(kWarning) << "encoder " << r.name << " (" << r.element
                       << ") failed its trial encode: " << r.error;
    }
  }
  results_[r.name] = r;
  return r;
}

std::vector<EncoderReport> EncoderProver::Survey() {
  std::vector<EncoderReport> out;
  for (const auto& e : registry_.encoders()) out.push_back(Check(*e));
  return out;
}

EncoderReport EncoderProver::Candidate(const VideoEncoder& encoder) {
  if (encoder.NeedsTrial()) return Check(encoder);
  {
    // A trial that did run (`newsreel encoders` runs them all) still counts.
    std::lock_guard<std::mutex> lock(mu_);
    auto it = results_.find(encoder.name());
    if (it != results_.end()) return it->second;
  }
  EncoderReport r = Unproven(encoder);
  r.proven = r.present;  // by presence: not kept, so a later Check still runs the trial
  return r;
}

Status EncoderProver::ForEachCandidate(const std::string& choice,
                                       const std::function<bool(const VideoEncoder&)>& next) {
  if (choice != "auto") {
    const VideoEncoder* e = registry_.Find(choice);
    if (e == nullptr) return registry_.Select(choice).status();  // names the known ones
    EncoderReport r = Candidate(*e);
    if (!r.present)
      return NotFound("encoder '" + choice + "' needs the GStreamer element " + r.element +
                      ", which is not installed");
    if (!r.proven)
      return Status(ErrorCode::kFailedPrecondition,
                    "encoder '" + choice + "' failed its trial encode: " + r.error);
    next(*e);
    return Status::Ok();
  }
  bool any = false;
  for (const auto& e : registry_.encoders()) {
    if (e->codec() != VideoCodec::kH264) continue;
    if (!Candidate(*e).proven) continue;
    any = true;
    if (next(*e)) break;
  }
  if (!any) return NotFound("no H.264 encoder passed its trial encode (see `newsreel encoders`)");
  return Status::Ok();
}

Result<const VideoEncoder*> EncoderProver::Auto() {
  const VideoEncoder* found = nullptr;
  Status s = ForEachCandidate("auto", [&](const VideoEncoder& e) {
    found = &e;
    return true;
  });
  if (!s.ok()) return s;
  return found;
}

}  // namespace newsreel::transcoder
