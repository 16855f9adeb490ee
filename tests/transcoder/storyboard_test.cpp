#include "transcoder/storyboard.h"

#include <gtest/gtest.h>

namespace newsreel::transcoder {
namespace {

RgbImage Solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  RgbImage img{w, h, {}};
  for (int i = 0; i < w * h; ++i) img.pixels.insert(img.pixels.end(), {r, g, b});
  return img;
}

TEST(StoryboardTest, DownscaleAveragesArea) {
  RgbImage img{2, 2, {0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0}};
  RgbImage one = Downscale(img, 1, 1);
  ASSERT_EQ(one.pixels.size(), 3u);
  EXPECT_EQ(one.pixels[0], 128);
}

TEST(StoryboardTest, SpritePlacesTilesInRows) {
  StoryboardLayout layout;
  layout.tile_width = 4;
  layout.tile_height = 2;
  layout.columns = 2;
  std::vector<RgbImage> tiles = {Solid(4, 2, 255, 0, 0), Solid(4, 2, 0, 255, 0),
                                 Solid(4, 2, 0, 0, 255)};
  RgbImage sheet = ComposeSprite(tiles, layout);
  EXPECT_EQ(sheet.width, 8);
  EXPECT_EQ(sheet.height, 4);
  auto px = [&](int x, int y) { return &sheet.pixels[(y * sheet.width + x) * 3]; };
  EXPECT_EQ(px(0, 0)[0], 255);  // tile 0 top-left: red
  EXPECT_EQ(px(4, 0)[1], 255);  // tile 1 top-right: green
  EXPECT_EQ(px(0, 2)[2], 255);  // tile 2 second row: blue
}

TEST(StoryboardTest, VttMapsTimesToRegions) {
  StoryboardLayout layout;
  layout.interval_seconds = 2;
  layout.tile_width = 160;
  layout.tile_height = 90;
  layout.columns = 10;
  std::string vtt = StoryboardVtt(12, 23.5, layout, "storyboard.jpg");
  EXPECT_EQ(vtt.rfind("WEBVTT\n", 0), 0u);
  EXPECT_NE(vtt.find("00:00:00.000 --> 00:00:02.000\nstoryboard.jpg#xywh=0,0,160,90"),
            std::string::npos);
  EXPECT_NE(vtt.find("00:00:20.000 --> 00:00:22.000\nstoryboard.jpg#xywh=0,90,160,90"),
            std::string::npos);
  EXPECT_NE(vtt.find("00:00:22.000 --> 00:00:23.500\nstoryboard.jpg#xywh=160,90,160,90"),
            std::string::npos);
}

TEST(StoryboardTest, IntervalGrowsForLongVideos) {
  EXPECT_DOUBLE_EQ(StoryboardInterval(30), 2);
  EXPECT_DOUBLE_EQ(StoryboardInterval(3600), 36);
}

TEST(StoryboardTest, EncodesJpeg) {
  auto jpeg = EncodeJpeg(Solid(33, 17, 10, 200, 30));
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  ASSERT_GT(jpeg->size(), 4u);
  EXPECT_EQ((*jpeg)[0], 0xFF);
  EXPECT_EQ((*jpeg)[1], 0xD8);
  EXPECT_EQ((*jpeg)[jpeg->size() - 2], 0xFF);
  EXPECT_EQ((*jpeg)[jpeg->size() - 1], 0xD9);
}

}  // namespace
}  // namespace newsreel::transcoder
