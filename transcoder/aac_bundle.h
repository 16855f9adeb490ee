#pragma once
// AAC frames gathered into one buffer, hence one PES packet of MPEG-TS: about 2 KB or 8 frames
// (~170 ms) per PES keeps the TS overhead near 7 %. A bundle never spans a segment cut. Fed from
// a pad probe on the encoded audio, by its one streaming thread (no lock). Shared by the VOD and
// live pipelines, which decide each frame's time and segment their own way.

#include <gst/gst.h>

#include <cstdint>

namespace newsreel::transcoder {

class AacBundle {
 public:
  AacBundle() = default;
  ~AacBundle();
  AacBundle(const AacBundle&) = delete;
  AacBundle& operator=(const AacBundle&) = delete;

  // True while a finished bundle is pushed through the probed pad: the probe lets it pass.
  bool flushing() const { return flushing_; }
  // At EOS: the bundle in progress goes downstream first.
  void FlushAtEos(GstPad* pad);
  // Adds the probe's buffer, of presentation time `pts` (priming removed) in segment `segment`;
  // a bundle of another segment goes downstream first. Returns the probe's answer: DROP while
  // gathering, OK with the finished bundle (stamped with its first frame's time and the sum of
  // the durations) in place of the buffer once it is full.
  GstPadProbeReturn Add(GstPad* pad, GstPadProbeInfo* info, int64_t pts, int64_t segment);

 private:
  GstBuffer* Take();  // the bundle, stamped; bundle_ becomes null
  void Flush(GstPad* pad);

  GstBuffer* bundle_ = nullptr;
  int frames_ = 0;
  gsize bytes_ = 0;
  GstClockTime duration_ = 0;
  int64_t segment_ = 0;  // the segment its frames belong to
  int64_t pts_ = 0;      // presentation time of its first frame
  bool flushing_ = false;
};

}  // namespace newsreel::transcoder
