#include "transcoder/storyboard.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <memory>

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

// libjpeg's default error handler ends the process; a broken JPEG fails the test instead.
struct DecodeErrors {
  jpeg_error_mgr manager;  // first
  std::jmp_buf jump;
};

[[noreturn]] void OnDecodeError(j_common_ptr cinfo) noexcept {
  std::longjmp(reinterpret_cast<DecodeErrors*>(cinfo->err)->jump, 1);
}

// How a JPEG was written.
struct JpegForm {
  bool jfif = false;
  J_COLOR_SPACE color_space = JCS_UNKNOWN;
  int luma_h = 0, luma_v = 0;  // sampling factors of the first component
};

struct Decoding {
  jpeg_decompress_struct cinfo{};
  DecodeErrors errors{};
  RgbImage image;
  JpegForm form;
};

// Fills d->image, or returns false when libjpeg cannot decode the bytes.
bool RunDecode(Decoding* d, const std::vector<uint8_t>& bytes) {
  if (setjmp(d->errors.jump) != 0) return false;
  jpeg_mem_src(&d->cinfo, bytes.data(), static_cast<unsigned long>(bytes.size()));
  if (jpeg_read_header(&d->cinfo, TRUE) != JPEG_HEADER_OK) return false;
  d->form = {d->cinfo.saw_JFIF_marker != 0, d->cinfo.jpeg_color_space,
             d->cinfo.comp_info[0].h_samp_factor, d->cinfo.comp_info[0].v_samp_factor};
  d->cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&d->cinfo);
  d->image.width = static_cast<int>(d->cinfo.output_width);
  d->image.height = static_cast<int>(d->cinfo.output_height);
  d->image.pixels.resize(static_cast<size_t>(d->image.width) * d->image.height * 3);
  while (d->cinfo.output_scanline < d->cinfo.output_height) {
    JSAMPROW row =
        &d->image.pixels[static_cast<size_t>(d->cinfo.output_scanline) * d->image.width * 3];
    jpeg_read_scanlines(&d->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&d->cinfo);
  return true;
}

// Reads a JPEG back with libjpeg: RGB pixels, or width 0 when it does not decode.
RgbImage DecodeJpeg(const std::vector<uint8_t>& bytes, JpegForm* form = nullptr) {
  auto d = std::make_unique<Decoding>();
  d->cinfo.err = jpeg_std_error(&d->errors.manager);
  d->errors.manager.error_exit = OnDecodeError;
  jpeg_create_decompress(&d->cinfo);
  const bool ok = RunDecode(d.get(), bytes);
  jpeg_destroy_decompress(&d->cinfo);
  if (form != nullptr) *form = d->form;
  return ok ? std::move(d->image) : RgbImage{};
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
  JpegForm form;
  RgbImage back = DecodeJpeg(*jpeg, &form);
  // The web's usual JPEG: JFIF, YCbCr, chroma halved both ways (2.2-2.7x smaller posters than
  // the RGB ones GStreamer's jpegenc wrote from RGB input).
  EXPECT_TRUE(form.jfif);
  EXPECT_EQ(form.color_space, JCS_YCbCr);
  EXPECT_EQ(form.luma_h, 2);
  EXPECT_EQ(form.luma_v, 2);
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

TEST(StoryboardTest, JpegLargerThanItsFirstBufferComesOutWhole) {
  // Detail everywhere (a gradient with noise): well over the sink's first 16 KB, so the output
  // buffer grows several times while libjpeg writes.
  RgbImage img{640, 360, {}};
  uint32_t seed = 12345;
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      for (int c = 0; c < 3; ++c) {
        seed = seed * 1664525u + 1013904223u;
        img.pixels.push_back(static_cast<uint8_t>((x + y + c * 60) / 6 + (seed >> 27)));
      }
  auto jpeg = EncodeJpeg(img, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status().ToString();
  EXPECT_GT(jpeg->size(), 4u * 16384u);
  RgbImage back = DecodeJpeg(*jpeg);
  ASSERT_EQ(back.width, 640);
  ASSERT_EQ(back.height, 360);
  // The noise is JPEG's to lose, the picture is not: every 16x16 block keeps its mean colour
  // (a piece of output lost while the buffer grew would grey out the rows after it).
  for (int by = 0; by < 360; by += 16)
    for (int bx = 0; bx < 640; bx += 16)
      for (int c = 0; c < 3; ++c) {
        double in = 0, out = 0;
        for (int y = by; y < std::min(by + 16, 360); ++y)
          for (int x = bx; x < bx + 16; ++x) {
            const size_t i = (static_cast<size_t>(y) * 640 + x) * 3 + c;
            in += img.pixels[i];
            out += back.pixels[i];
          }
        ASSERT_NEAR(in / 256, out / 256, 4.0) << "block " << bx << "," << by << " channel " << c;
      }
  // A JPEG cut short does not decode.
  std::vector<uint8_t> cut(jpeg->begin(), jpeg->begin() + 100);
  EXPECT_EQ(DecodeJpeg(cut).width, 0);
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
