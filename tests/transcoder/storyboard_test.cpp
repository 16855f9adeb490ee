#include "transcoder/storyboard.h"

#include <gtest/gtest.h>

#include <cstdio>  // jpeglib.h needs FILE

extern "C" {
#include <jpeglib.h>
}

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

// Reads a JPEG back with libjpeg: RGB pixels, or width 0 when it does not decode.
RgbImage DecodeJpeg(const std::vector<uint8_t>& bytes) {
  RgbImage img;
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr errors{};
  cinfo.err = jpeg_std_error(&errors);
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  if (jpeg_read_header(&cinfo, TRUE) == JPEG_HEADER_OK) {
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    img.width = static_cast<int>(cinfo.output_width);
    img.height = static_cast<int>(cinfo.output_height);
    img.pixels.resize(static_cast<size_t>(img.width) * img.height * 3);
    while (cinfo.output_scanline < cinfo.output_height) {
      JSAMPROW row = &img.pixels[static_cast<size_t>(cinfo.output_scanline) * img.width * 3];
      jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
  }
  jpeg_destroy_decompress(&cinfo);
  return img;
}

TEST(StoryboardTest, EncodesJpeg) {
  // Odd sizes: 4:2:0 chroma covers a last column and row of their own.
  auto jpeg = EncodeJpeg(Solid(33, 17, 10, 200, 30));
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  ASSERT_GT(jpeg->size(), 4u);
  EXPECT_EQ((*jpeg)[0], 0xFF);
  EXPECT_EQ((*jpeg)[1], 0xD8);
  EXPECT_EQ((*jpeg)[jpeg->size() - 2], 0xFF);
  EXPECT_EQ((*jpeg)[jpeg->size() - 1], 0xD9);
  RgbImage back = DecodeJpeg(*jpeg);
  ASSERT_EQ(back.width, 33);
  ASSERT_EQ(back.height, 17);
  for (size_t i = 0; i < back.pixels.size(); i += 3) {
    ASSERT_NEAR(back.pixels[i], 10, 6) << "pixel " << i / 3;
    ASSERT_NEAR(back.pixels[i + 1], 200, 6) << "pixel " << i / 3;
    ASSERT_NEAR(back.pixels[i + 2], 30, 6) << "pixel " << i / 3;
  }
}

TEST(StoryboardTest, JpegQualitySetsSize) {
  // A picture with detail: a higher quality keeps more of it, in more bytes.
  RgbImage img{64, 48, {}};
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      img.pixels.insert(img.pixels.end(),
                        {static_cast<uint8_t>(x * 37 % 251), static_cast<uint8_t>(y * 53 % 241),
                         static_cast<uint8_t>((x * y) % 239)});
  auto low = EncodeJpeg(img, 30);
  auto high = EncodeJpeg(img, 95);
  ASSERT_TRUE(low.ok() && high.ok());
  EXPECT_LT(low->size(), high->size());
  EXPECT_EQ(DecodeJpeg(*high).width, 64);
}

TEST(StoryboardTest, JpegErrorsFromLibjpegComeBackAsAStatus) {
  // Wider than JPEG allows (65,500): libjpeg raises its error, which must reach the caller as a
  // status instead of ending the process (libjpeg's default).
  RgbImage wide = Solid(70000, 1, 1, 2, 3);
  auto jpeg = EncodeJpeg(wide);
  ASSERT_FALSE(jpeg.ok());
  EXPECT_NE(jpeg.status().message().find("jpeg encoding failed"), std::string::npos)
      << jpeg.status().ToString();
  // And the encoder still works afterwards.
  EXPECT_TRUE(EncodeJpeg(Solid(4, 4, 1, 2, 3)).ok());
}

TEST(StoryboardTest, JpegRefusesAnImageShortOfPixels) {
  RgbImage img = Solid(8, 8, 1, 2, 3);
  img.pixels.resize(10);
  auto jpeg = EncodeJpeg(img);
  EXPECT_FALSE(jpeg.ok());
  EXPECT_FALSE(EncodeJpeg(RgbImage{}).ok());
}

}  // namespace
}  // namespace newsreel::transcoder
