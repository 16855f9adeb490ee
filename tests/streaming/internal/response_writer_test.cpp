#include "streaming/internal/response_writer.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace newsreel::streaming {
namespace {

std::string Field(const std::vector<std::pair<std::string, std::string>>& fields,
                  const std::string& name) {
  auto it = std::find_if(fields.begin(), fields.end(), [&](auto& f) { return f.first == name; });
  return it == fields.end() ? "<absent>" : it->second;
}

TEST(ResponseWriterTest, JsonGetsNoStoreAndCors) {
  HttpResponse r;
  r.body = "{}";
  auto fields = ResponseHeaderFields(r, 2, {});
  EXPECT_EQ(Field(fields, "content-type:"), "application/json");
  EXPECT_EQ(Field(fields, "content-length:"), "2");
  EXPECT_EQ(Field(fields, "cache-control:"), "no-store");
  EXPECT_EQ(Field(fields, "access-control-allow-origin:"), "*");
  EXPECT_EQ(Field(fields, "connection:"), "<absent>");
}

TEST(ResponseWriterTest, HeadersAreLowerCasedAndTheirCacheControlWins) {
  HttpResponse r;
  r.headers["Cache-Control"] = "public, max-age=60";
  r.headers["ETag"] = "\"1\"";
  auto fields = ResponseHeaderFields(r, 0, {.cors_allow_origin = "https://tinh.vn"});
  EXPECT_EQ(Field(fields, "cache-control:"), "public, max-age=60");
  EXPECT_EQ(Field(fields, "etag:"), "\"1\"");
  EXPECT_EQ(Field(fields, "access-control-allow-origin:"), "https://tinh.vn");
  EXPECT_EQ(std::count_if(fields.begin(), fields.end(),
                          [](auto& f) { return f.first == "cache-control:"; }),
            1);
}

TEST(ResponseWriterTest, NotModifiedHasNoLengthAndUploadsExposeTusHeaders) {
  HttpResponse r;
  r.status = 304;
  r.content_type.clear();
  auto fields = ResponseHeaderFields(r, 99, {});
  EXPECT_EQ(Field(fields, "content-length:"), "<absent>");
  EXPECT_EQ(Field(fields, "content-type:"), "<absent>");
  auto upload = ResponseHeaderFields(HttpResponse{}, 0, {.upload = true, .close_after = true});
  EXPECT_NE(Field(upload, "access-control-expose-headers:").find("Upload-Offset"),
            std::string::npos);
  EXPECT_EQ(Field(upload, "connection:"), "close");
}

TEST(ResponseWriterTest, PreflightAllowsTheTusHeaders) {
  HttpResponse p = PreflightResponse();
  EXPECT_EQ(p.status, 204);
  EXPECT_NE(p.headers["Access-Control-Allow-Headers"].find("Upload-Offset"), std::string::npos);
  EXPECT_NE(p.headers["Access-Control-Allow-Methods"].find("PATCH"), std::string::npos);
}

}  // namespace
}  // namespace newsreel::streaming
