#include "streaming/internal/media_delivery.h"

#include <gtest/gtest.h>

// The table below names only the headers each case sets; the rest are empty on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include "streaming/internal/http_util.h"

namespace newsreel::streaming {
namespace {

constexpr FileFacts kSegment{1000, 42, 1'700'000'000'000'000'000};
constexpr FileFacts kPlaylist{300, 43, 1'700'000'000'000'000'000};

DeliveryTarget Target(const char* name, std::optional<FileFacts> file, bool visible = true) {
  return {name, "public, max-age=31536000, immutable", visible, file};
}

std::string Etag(const FileFacts& f, bool gzip) {
  return MakeEtag(f.inode, f.size, f.mtime_ns, gzip);
}

struct Case {
  const char* what;
  DeliveryRequest request;
  DeliveryTarget target;
  int status;
  BodySource body;
  uint64_t first, count;
  std::map<std::string, std::string> headers;  // that must be there, with these values
};

TEST(MediaDeliveryTest, PlansFollowTheTable) {
  const std::string seg_etag = Etag(kSegment, false);
  const std::string list_gz = Etag(kPlaylist, true);
  const Case cases[] = {
      {"whole segment",
       {"GET"},
       Target("720p/seg_00001.ts", kSegment),
       200,
       BodySource::kFile,
       0,
       1000,
       {{"ETag", seg_etag}, {"Accept-Ranges", "bytes"}}},
      {"HEAD is GET without a body",
       {"HEAD"},
       Target("seg.ts", kSegment),
       200,
       BodySource::kFile,
       0,
       1000,
       {{"ETag", seg_etag}}},
      {"range a-b",
       {"GET", "bytes=10-19"},
       Target("seg.ts", kSegment),
       206,
       BodySource::kFile,
       10,
       10,
       {{"Content-Range", "bytes 10-19/1000"}}},
      {"open range",
       {"GET", "bytes=990-"},
       Target("seg.ts", kSegment),
       206,
       BodySource::kFile,
       990,
       10,
       {{"Content-Range", "bytes 990-999/1000"}}},
      {"suffix range",
       {"GET", "bytes=-5"},
       Target("seg.ts", kSegment),
       206,
       BodySource::kFile,
       995,
       5,
       {{"Content-Range", "bytes 995-999/1000"}}},
      {"range past the end",
       {"GET", "bytes=1000-"},
       Target("seg.ts", kSegment),
       416,
       BodySource::kNone,
       0,
       0,
       {{"Content-Range", "bytes */1000"}}},
      {"malformed range: whole file",
       {"GET", "bytes=x-y"},
       Target("seg.ts", kSegment),
       200,
       BodySource::kFile,
       0,
       1000,
       {}},
      {"If-Range with another tag: whole file",
       {"GET", "bytes=0-9", "", "\"old\""},
       Target("seg.ts", kSegment),
       200,
       BodySource::kFile,
       0,
       1000,
       {}},
      {"If-Range with our tag: the range",
       {"GET", "bytes=0-9", "", seg_etag},
       Target("seg.ts", kSegment),
       206,
       BodySource::kFile,
       0,
       10,
       {}},
      {"If-None-Match hit",
       {"GET", "", seg_etag},
       Target("seg.ts", kSegment),
       304,
       BodySource::kNone,
       0,
       0,
       {{"ETag", seg_etag}}},
      {"If-None-Match *",
       {"GET", "", "*"},
       Target("seg.ts", kSegment),
       304,
       BodySource::kNone,
       0,
       0,
       {}},
      {"If-None-Match miss",
       {"GET", "", "\"other\""},
       Target("seg.ts", kSegment),
       200,
       BodySource::kFile,
       0,
       1000,
       {}},
      {"playlist gzip",
       {"GET", "", "", "", "gzip, br"},
       Target("index.m3u8", kPlaylist),
       200,
       BodySource::kGzip,
       0,
       0,
       {{"Content-Encoding", "gzip"}, {"Vary", "Accept-Encoding"}, {"ETag", list_gz}}},
      {"gzip refused with q=0",
       {"GET", "", "", "", "gzip;q=0"},
       Target("index.m3u8", kPlaylist),
       200,
       BodySource::kFile,
       0,
       300,
       {{"Vary", "Accept-Encoding"}}},
      {"gzip tag revalidates",
       {"GET", "", list_gz, "", "gzip"},
       Target("index.m3u8", kPlaylist),
       304,
       BodySource::kNone,
       0,
       0,
       {}},
      {"a range is never gzipped",
       {"GET", "bytes=0-9", "", "", "gzip"},
       Target("index.m3u8", kPlaylist),
       206,
       BodySource::kFile,
       0,
       10,
       {}},
      {"segments are not compressed",
       {"GET", "", "", "", "gzip"},
       Target("seg.ts", kSegment),
       200,
       BodySource::kFile,
       0,
       1000,
       {}},
      {"hidden video: 404 like a missing one",
       {"GET"},
       Target("seg.ts", kSegment, false),
       404,
       BodySource::kNone,
       0,
       0,
       {}},
      {"missing file", {"GET"}, Target("seg.ts", std::nullopt), 404, BodySource::kNone, 0, 0, {}},
      {"read-only",
       {"POST"},
       Target("seg.ts", kSegment),
       405,
       BodySource::kNone,
       0,
       0,
       {{"Allow", "GET, HEAD, OPTIONS"}}},
      {"read-only even when hidden",
       {"DELETE"},
       Target("seg.ts", kSegment, false),
       405,
       BodySource::kNone,
       0,
       0,
       {}},
  };
  for (const Case& c : cases) {
    DeliveryPlan plan = PlanDelivery(c.request, c.target);
    EXPECT_EQ(plan.status, c.status) << c.what;
    EXPECT_EQ(plan.body, c.body) << c.what;
    if (c.body == BodySource::kFile) {
      EXPECT_EQ(plan.first, c.first) << c.what;
      EXPECT_EQ(plan.count, c.count) << c.what;
    }
    for (const auto& [name, value] : c.headers) {
      auto it = plan.headers.find(name);
      ASSERT_NE(it, plan.headers.end()) << c.what << ": no " << name;
      EXPECT_EQ(it->second, value) << c.what << ": " << name;
    }
  }
}

TEST(MediaDeliveryTest, ErrorsAndNotModifiedCarryNoFileHeaders) {
  DeliveryPlan hidden = PlanDelivery({"GET"}, Target("seg.ts", kSegment, false));
  EXPECT_EQ(hidden.headers.count("ETag"), 0u) << "a hidden file's tag would tell it exists";
  EXPECT_EQ(hidden.error_code, "not_found");
  EXPECT_EQ(hidden.content_type, "application/json");
  DeliveryPlan missing = PlanDelivery({"GET"}, Target("seg.ts", std::nullopt));
  EXPECT_EQ(hidden.error_message, missing.error_message) << "hidden and missing look alike";
  DeliveryPlan not_modified =
      PlanDelivery({"GET", "", Etag(kSegment, false)}, Target("seg.ts", kSegment));
  EXPECT_TRUE(not_modified.content_type.empty());
}

TEST(MediaDeliveryTest, TypesAndCachingFollowTheName) {
  DeliveryPlan seg = PlanDelivery({"GET"}, Target("720p/seg_00001.ts", kSegment));
  EXPECT_EQ(seg.content_type, "video/mp2t");
  EXPECT_EQ(seg.headers["Cache-Control"], "public, max-age=31536000, immutable");
  DeliveryPlan list = PlanDelivery({"GET"}, {"master.m3u8", "no-cache", true, kPlaylist});
  EXPECT_EQ(list.content_type, "application/vnd.apple.mpegurl");
  EXPECT_EQ(list.headers["Cache-Control"], "no-cache");
}

TEST(MediaDeliveryTest, OnlyPlainGetsMayBeReplayedWhole) {
  EXPECT_TRUE(IsPlainGet({"GET"}, "seg.ts"));
  EXPECT_TRUE(IsPlainGet({"GET", "", "", "", "gzip"}, "seg.ts"));  // not compressible
  EXPECT_FALSE(IsPlainGet({"GET", "", "", "", "gzip"}, "index.m3u8"));
  EXPECT_FALSE(IsPlainGet({"HEAD"}, "seg.ts"));
  EXPECT_FALSE(IsPlainGet({"GET", "bytes=0-1"}, "seg.ts"));
  EXPECT_FALSE(IsPlainGet({"GET", "", "\"x\""}, "seg.ts"));
}

}  // namespace
}  // namespace newsreel::streaming
