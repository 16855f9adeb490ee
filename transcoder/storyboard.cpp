#include "transcoder/storyboard.h"

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "transcoder/gst_util.h"

namespace newsreel::transcoder {

RgbImage Downscale(const RgbImage& src, int width, int height) {
  RgbImage out;
  out.width = width;
  out.height = height;
  out.pixels.assign(static_cast<size_t>(width) * height * 3, 0);
  if (src.width <= 0 || src.height <= 0) return out;
  for (int y = 0; y < height; ++y) {
    int y0 = y * src.height / height;
    int y1 = std::max(y0 + 1, (y + 1) * src.height / height);
    for (int x = 0; x < width; ++x) {
      int x0 = x * src.width / width;
      int x1 = std::max(x0 + 1, (x + 1) * src.width / width);
      uint32_t sum[3] = {0, 0, 0};
      for (int sy = y0; sy < y1; ++sy) {
        const uint8_t* row = &src.pixels[(static_cast<size_t>(sy) * src.width + x0) * 3];
        for (int sx = x0; sx < x1; ++sx, row += 3) {
          sum[0] += row[0];
          sum[1] += row[1];
          sum[2] += row[2];
        }
      }
      uint32_t n = static_cast<uint32_t>((y1 - y0) * (x1 - x0));
      uint8_t* o = &out.pixels[(static_cast<size_t>(y) * width + x) * 3];
      for (int c = 0; c < 3; ++c) o[c] = static_cast<uint8_t>((sum[c] + n / 2) / n);
    }
  }
  return out;
}

double StoryboardInterval(double duration_seconds, int max_tiles) {
  double interval = 2.0;
  if (duration_seconds / interval > max_tiles) interval = std::ceil(duration_seconds / max_tiles);
  return interval;
}

RgbImage ComposeSprite(const std::vector<RgbImage>& tiles, const StoryboardLayout& layout) {
  RgbImage sheet;
  int count = static_cast<int>(tiles.size());
  int columns = std::max(1, std::min(layout.columns, count));
  int rows = std::max(1, (count + columns - 1) / columns);
  sheet.width = columns * layout.tile_width;
  sheet.height = rows * layout.tile_height;
  sheet.pixels.assign(static_cast<size_t>(sheet.width) * sheet.height * 3, 0);
  for (int i = 0; i < count; ++i) {
    const RgbImage& t = tiles[i];
    int ox = (i % columns) * layout.tile_width;
    int oy = (i / columns) * layout.tile_height;
    int w = std::min(t.width, layout.tile_width);
    int h = std::min(t.height, layout.tile_height);
    for (int y = 0; y < h; ++y) {
      std::copy_n(&t.pixels[static_cast<size_t>(y) * t.width * 3], static_cast<size_t>(w) * 3,
                  &sheet.pixels[(static_cast<size_t>(oy + y) * sheet.width + ox) * 3]);
    }
  }
  return sheet;
}

namespace {
std::string VttTime(double s) {
  int64_t ms = std::llround(s * 1000);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%03lld",
                static_cast<long long>(ms / 3600000), static_cast<long long>(ms / 60000 % 60),
                static_cast<long long>(ms / 1000 % 60), static_cast<long long>(ms % 1000));
  return buf;
}
}  // namespace

std::string StoryboardVtt(int count, double duration_seconds, const StoryboardLayout& layout,
                          const std::string& image_uri) {
  std::ostringstream o;
  o << "WEBVTT\n";
  int columns = std::max(1, std::min(layout.columns, count));
  for (int i = 0; i < count; ++i) {
    double start = i * layout.interval_seconds;
    double end = (i + 1 == count) ? std::max(duration_seconds, start + 0.001)
                                  : std::min((i + 1) * layout.interval_seconds, duration_seconds);
    if (end <= start) end = start + 0.001;
    o << "\n"
      << VttTime(start) << " --> " << VttTime(end) << "\n"
      << image_uri << "#xywh=" << (i % columns) * layout.tile_width << ","
      << (i / columns) * layout.tile_height << "," << layout.tile_width << "," << layout.tile_height
      << "\n";
  }
  return o.str();
}

Result<std::vector<uint8_t>> EncodeJpeg(const RgbImage& image, int quality) {
  if (image.width <= 0 || image.height <= 0) return InvalidArgument("empty image");
  Pipeline pipeline("jpeg");
  auto src = MakeElement("appsrc");
  auto convert = MakeElement("videoconvert");
  auto enc = MakeElement("jpegenc");
  auto sink = MakeElement("appsink");
  if (!src || !convert || !enc || !sink) return NotFound("jpegenc is not installed");
  std::string caps_str = "video/x-raw,format=RGB,width=" + std::to_string(image.width) +
                         ",height=" + std::to_string(image.height) + ",framerate=0/1";
  CapsPtr caps(gst_caps_from_string(caps_str.c_str()));
  g_object_set(src.get(), "caps", caps.get(), "format", GST_FORMAT_TIME, nullptr);
  g_object_set(enc.get(), "quality", quality, nullptr);
  g_object_set(sink.get(), "sync", FALSE, nullptr);
  GstElement* s = pipeline.Add(std::move(src));
  GstElement* c = pipeline.Add(std::move(convert));
  GstElement* e = pipeline.Add(std::move(enc));
  GstElement* k = pipeline.Add(std::move(sink));
  if (!gst_element_link_many(s, c, e, k, nullptr)) return Internal("cannot link jpeg pipeline");
  gst_element_set_state(pipeline.element(), GST_STATE_PLAYING);
  // RGB rows must be padded to 4 bytes in GStreamer's default layout.
  int stride = (image.width * 3 + 3) & ~3;
  GstBuffer* buf =
      gst_buffer_new_allocate(nullptr, static_cast<gsize>(stride) * image.height, nullptr);
  GstMapInfo map;
  gst_buffer_map(buf, &map, GST_MAP_WRITE);
  for (int y = 0; y < image.height; ++y)
    std::copy_n(&image.pixels[static_cast<size_t>(y) * image.width * 3],
                static_cast<size_t>(image.width) * 3, map.data + static_cast<size_t>(y) * stride);
  gst_buffer_unmap(buf, &map);
  GST_BUFFER_PTS(buf) = 0;
  gst_app_src_push_buffer(GST_APP_SRC(s), buf);  // takes ownership
  gst_app_src_end_of_stream(GST_APP_SRC(s));
  SamplePtr sample(gst_app_sink_try_pull_sample(GST_APP_SINK(k), 10 * GST_SECOND));
  if (!sample) return Internal("jpeg encoding produced nothing");
  BufferMap out(gst_sample_get_buffer(sample.get()));
  if (!out.ok()) return Internal("cannot map encoded jpeg");
  return std::vector<uint8_t>(out.data(), out.data() + out.size());
}

}  // namespace newsreel::transcoder
