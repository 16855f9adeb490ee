#pragma once
// Posters and storyboards: thumbnails composed into one sprite sheet plus a WebVTT file that maps
// time ranges to regions of the sheet ("storyboard.jpg#xywh=x,y,w,h"), for scrub previews.

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace newsreel::transcoder {

// Packed 8-bit RGB, rows of width*3 bytes without padding.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

// Area-averaging downscale (each output pixel averages the source pixels it covers).
RgbImage Downscale(const RgbImage& src, int width, int height);

struct StoryboardLayout {
  double interval_seconds = 2;
  int tile_width = 160;
  int tile_height = 90;
  int columns = 10;
};

// Interval between thumbnails for a duration: every 2 s, longer for long videos so the sheet
// holds at most `max_tiles` thumbnails.
double StoryboardInterval(double duration_seconds, int max_tiles = 100);

// Tiles in time order, all tile_width x tile_height; a sheet `columns` wide.
RgbImage ComposeSprite(const std::vector<RgbImage>& tiles, const StoryboardLayout& layout);

// WebVTT cues for `count` tiles over `duration_seconds`, pointing at `image_uri`.
std::string StoryboardVtt(int count, double duration_seconds, const StoryboardLayout& layout,
                          const std::string& image_uri);

// Encodes with libjpeg(-turbo): baseline JFIF, YCbCr 4:2:0, at the given quality (1-100).
Result<std::vector<uint8_t>> EncodeJpeg(const RgbImage& image, int quality = 85);

}  // namespace newsreel::transcoder
