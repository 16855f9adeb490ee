#include "transcoder/storyboard.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <memory>
#include <new>
#include <sstream>

extern "C" {
#include <jpeglib.h>
// jerror.h after jpeglib.h, which it needs.
#include <jerror.h>
}

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

namespace {

// libjpeg reports errors through error_exit, which must not return: it jumps back into
// CompressJpeg with the message kept.
struct JpegErrors {
  jpeg_error_mgr manager;  // first: libjpeg sees only this part
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void OnJpegError(j_common_ptr cinfo) noexcept {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

// libjpeg's output, straight into a vector we own (jpeg_mem_dest keeps the buffer it grows to
// itself until jpeg_finish_compress, so an error after a growth would lose it).
struct JpegSink {
  jpeg_destination_mgr manager;  // first: libjpeg sees only this part
  std::vector<uint8_t> bytes;
};

// Makes the sink `size` bytes long with the first `used` of them written; false when out of
// memory (no exception may cross libjpeg's frames).
bool GrowSink(JpegSink& sink, size_t used, size_t size) noexcept {
  try {
    sink.bytes.resize(size);
  } catch (const std::bad_alloc&) {
    return false;
  }
  sink.manager.next_output_byte = sink.bytes.data() + used;
  sink.manager.free_in_buffer = size - used;
  return true;
}

void StartSink(j_compress_ptr cinfo) noexcept {
  if (!GrowSink(*reinterpret_cast<JpegSink*>(cinfo->dest), 0, 16384))
    ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
}

// Called with the whole buffer written.
boolean SinkFull(j_compress_ptr cinfo) noexcept {
  auto& sink = *reinterpret_cast<JpegSink*>(cinfo->dest);
  const size_t used = sink.bytes.size();
  if (!GrowSink(sink, used, used * 2)) ERREXIT(cinfo, JERR_OUT_OF_MEMORY);
  return TRUE;
}

void EndSink(j_compress_ptr cinfo) noexcept {
  auto& sink = *reinterpret_cast<JpegSink*>(cinfo->dest);
  sink.bytes.resize(sink.bytes.size() - sink.manager.free_in_buffer);
}

// Everything libjpeg touches, in one object outside the frame that calls setjmp, so that none
// of it is a local of that frame changed between setjmp and longjmp.
struct JpegJob {
  jpeg_compress_struct cinfo{};
  JpegErrors errors{};
  JpegSink sink{};

  JpegJob() {
    cinfo.err = jpeg_std_error(&errors.manager);
    errors.manager.error_exit = OnJpegError;
    sink.manager.init_destination = StartSink;
    sink.manager.empty_output_buffer = SinkFull;
    sink.manager.term_destination = EndSink;
  }
  // Safe before jpeg_create_compress too: libjpeg frees only what cinfo.mem holds (null until
  // then).
  ~JpegJob() { jpeg_destroy_compress(&cinfo); }
  JpegJob(const JpegJob&) = delete;
  JpegJob& operator=(const JpegJob&) = delete;
};

// False, with job->errors.message set, when libjpeg raised an error.
bool CompressJpeg(JpegJob* job, const RgbImage& image, int quality) {
  if (setjmp(job->errors.jump) != 0) return false;
  jpeg_compress_struct& cinfo = job->cinfo;
  jpeg_create_compress(&cinfo);
  cinfo.dest = &job->sink.manager;
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);  // baseline JFIF, YCbCr 4:2:0
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  const size_t row_bytes = static_cast<size_t>(image.width) * 3;
  while (cinfo.next_scanline < cinfo.image_height) {
    // libjpeg's API takes rows as non-const; it only reads them.
    JSAMPROW row = const_cast<JSAMPROW>(&image.pixels[cinfo.next_scanline * row_bytes]);
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  return true;
}

}  // namespace

Result<std::vector<uint8_t>> EncodeJpeg(const RgbImage& image, int quality) {
  if (image.width <= 0 || image.height <= 0) return InvalidArgument("empty image");
  if (image.pixels.size() < static_cast<size_t>(image.width) * image.height * 3)
    return InvalidArgument("image has fewer pixels than its size says");
  // libjpeg(-turbo) directly: a GStreamer pipeline (appsrc, videoconvert, jpegenc) per picture
  // cost ~4 ms each at the end of every job, on one core, for four pictures.
  auto job = std::make_unique<JpegJob>();
  if (!CompressJpeg(job.get(), image, quality))
    return Internal(std::string("jpeg encoding failed: ") + job->errors.message);
  return std::move(job->sink.bytes);
}

}  // namespace newsreel::transcoder
