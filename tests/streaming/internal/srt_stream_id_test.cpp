// The stream ids encoders send, parsed: a table of what is accepted and what is refused, and why.
#include "streaming/internal/srt_stream_id.h"

#include <gtest/gtest.h>

#include <string>

namespace newsreel::streaming {
namespace {

struct Accepted {
  std::string stream_id;
  StreamIdForm form;
  StreamMode mode;
  std::string resource;
  std::string key;
};

TEST(SrtStreamIdTest, AcceptsWhatEncodersSend) {
  using F = StreamIdForm;
  using M = StreamMode;
  const Accepted table[] = {
      // SRT access control, as the SRT docs write it.
      {"#!::r=abc,m=publish,s=KEY1234", F::kAccessControl, M::kPublish, "abc", "KEY1234"},
      // Any order.
      {"#!::s=KEY1234,m=publish,r=abc", F::kAccessControl, M::kPublish, "abc", "KEY1234"},
      {"#!::m=publish,s=KEY1234", F::kAccessControl, M::kPublish, "", "KEY1234"},
      // Keys we do not use are ignored (OBS/vMix users add u=; some encoders h= and their own).
      {"#!::u=reporter7,r=abc,s=k-e_y.9~,h=ingest.example.org,t=stream,x-vendor=1",
       F::kAccessControl, M::kUnspecified, "abc", "k-e_y.9~"},
      // Values of ignored keys may be UTF-8 (a user name in Vietnamese).
      {"#!::u=Ph\xc3\xb3ng vi\xc3\xaan,s=KEY", F::kAccessControl, M::kUnspecified, "", "KEY"},
      // A pull request is told apart from a publish.
      {"#!::r=abc,m=request,s=KEY", F::kAccessControl, M::kRequest, "abc", "KEY"},
      {"#!::r=abc,m=bidirectional,s=KEY", F::kAccessControl, M::kBidirectional, "abc", "KEY"},
      // A puller holds the passphrase, not the key: r= and m=request are enough.
      {"#!::r=abc,m=request", F::kAccessControl, M::kRequest, "abc", ""},
      {"#!::m=request,r=abc,u=broadcaster", F::kAccessControl, M::kRequest, "abc", ""},
      {"%23%21%3A%3Ar%3Dabc%2Cm%3Drequest", F::kAccessControl, M::kRequest, "abc", ""},
      // Empty items and an empty r= say nothing.
      {"#!::s=KEY,,r=,", F::kAccessControl, M::kUnspecified, "", "KEY"},
      // A value may hold '=' for an ignored key.
      {"#!::u=a=b,s=KEY", F::kAccessControl, M::kUnspecified, "", "KEY"},
      {"#!::r=live/abc,s=KEY", F::kAccessControl, M::kUnspecified, "live/abc", "KEY"},
      // A bare key and the RTMP habit.
      {"0123456789abcdefABCDEF", F::kBareKey, M::kUnspecified, "", "0123456789abcdefABCDEF"},
      {"live/0123456789abcdef", F::kLivePath, M::kUnspecified, "", "0123456789abcdef"},
      // URL-encoded by the user, sent undecoded by the encoder.
      {"%23%21%3A%3Ar%3Dabc%2Cm%3Dpublish%2Cs%3DKEY", F::kAccessControl, M::kPublish, "abc", "KEY"},
      {"%23%21%3a%3as%3dKEY", F::kAccessControl, M::kUnspecified, "", "KEY"},
      // The bounds themselves.
      {std::string(256, 'k'), F::kBareKey, M::kUnspecified, "", std::string(256, 'k')},
      {"#!::r=" + std::string(256, 'r') + ",s=" + std::string(246, 'k'), F::kAccessControl,
       M::kUnspecified, std::string(256, 'r'), std::string(246, 'k')},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(row.stream_id);
    auto parsed = ParseStreamId(row.stream_id);
    ASSERT_TRUE(std::holds_alternative<ParsedStreamId>(parsed))
        << std::get<StreamIdError>(parsed).message;
    const auto& id = std::get<ParsedStreamId>(parsed);
    EXPECT_EQ(id.form, row.form);
    EXPECT_EQ(id.mode, row.mode);
    EXPECT_EQ(id.resource, row.resource);
    EXPECT_EQ(id.key, row.key);
  }
}

struct Refused {
  std::string stream_id;
  StreamIdProblem problem;
};

TEST(SrtStreamIdTest, RefusesWithAReason) {
  using P = StreamIdProblem;
  const Refused table[] = {
      // No key.
      {"", P::kNoKey},
      {"live/", P::kNoKey},
      {"#!::", P::kNoKey},
      {"#!::r=abc,m=publish", P::kNoKey},
      {"#!::r=abc,m=publish,s=", P::kNoKey},
      {"#!::r=abc,m=bidirectional", P::kNoKey},
      // A puller must name its stream; a key it gives must still be a key.
      {"#!::m=request", P::kMalformed},
      {"#!::m=request,s=KEY", P::kMalformed},
      {"#!::r=abc,m=request,s=K Y", P::kMalformed},
      {"#!::r=abc,m=request,s=a/b", P::kMalformed},
      // Mode neither publish, request nor bidirectional.
      {"#!::r=abc,m=play,s=KEY", P::kBadMode},
      {"#!::m=PUBLISH,s=KEY", P::kBadMode},
      // Lengths: SRT's bound on the whole, ours on the key and the resource.
      {std::string(513, 'k'), P::kMalformed},
      {std::string(257, 'k'), P::kMalformed},
      {"live/" + std::string(257, 'k'), P::kMalformed},
      {"#!::r=" + std::string(257, 'r') + ",s=KEY", P::kMalformed},
      // Control bytes anywhere, even in ignored values.
      {"KEY\n", P::kMalformed},
      {std::string("KE\0Y", 4), P::kMalformed},
      {"#!::u=a\tb,s=KEY", P::kMalformed},
      {"live/KEY\x7f", P::kMalformed},
      // Bytes no key or stream id of ours has.
      {"KEY WITH SPACES", P::kMalformed},
      {"K\xc3\xa9Y", P::kMalformed},
      {"#!::r=a b,s=KEY", P::kMalformed},
      {"#!::s=KEY\xc3\xa9", P::kMalformed},
      // Access-control syntax gone wrong.
      {"#!::r=abc,s=KEY,s=OTHER", P::kMalformed},  // which key?
      {"#!::r=abc,r=def,s=KEY", P::kMalformed},
      {"#!::r=abc,noequals,s=KEY", P::kMalformed},
      {"#!::=x,s=KEY", P::kMalformed},
      {"#!:r=abc,s=KEY", P::kMalformed},
      {"#!{r=abc,s=KEY}", P::kMalformed},
      {"r=abc,s=KEY", P::kMalformed},  // the prefix forgotten
      // URL-encoded, badly, or hiding a control byte.
      {"%23%21%3A%3As%3DKEY%2", P::kMalformed},
      {"%23%21%3A%3As%3DKEY%zz", P::kMalformed},
      {"%23%21%3A%3As%3DKEY%0A", P::kMalformed},
      {"%23%21%3A%3Ar%3Dabc", P::kNoKey},
      // Paths other than live/<key>.
      {"app/KEY", P::kMalformed},
      {"live/a/KEY", P::kMalformed},
      {"/live/KEY", P::kMalformed},
  };
  for (const auto& row : table) {
    SCOPED_TRACE(testing::PrintToString(row.stream_id));
    auto parsed = ParseStreamId(row.stream_id);
    ASSERT_TRUE(std::holds_alternative<StreamIdError>(parsed));
    const auto& error = std::get<StreamIdError>(parsed);
    EXPECT_EQ(error.problem, row.problem) << error.message;
    EXPECT_FALSE(error.message.empty());
  }
}

TEST(SrtStreamIdTest, MessagesAndDescriptionsNeverQuoteTheKey) {
  const std::string key = "SECRET-KEY-0042";
  for (std::string sid : {"#!::r=abc,m=publish,s=" + key, "live/" + key, key}) {
    auto parsed = ParseStreamId(sid);
    ASSERT_TRUE(std::holds_alternative<ParsedStreamId>(parsed));
    std::string d = Describe(std::get<ParsedStreamId>(parsed));
    EXPECT_EQ(d.find(key), std::string::npos) << d;
    EXPECT_NE(d.find("15 bytes"), std::string::npos) << d;
  }
  EXPECT_EQ(Describe(std::get<ParsedStreamId>(ParseStreamId("#!::r=abc,m=publish,s=" + key))),
            "access-control r=abc m=publish key=(15 bytes)");
  EXPECT_EQ(Describe(std::get<ParsedStreamId>(ParseStreamId("#!::r=abc,m=request"))),
            "access-control r=abc m=request no key");
  for (std::string sid :
       {"#!::r=abc,s=" + key + ",s=" + key, key + " ", "live/" + key + "\n", "#!::m=x,s=" + key}) {
    auto parsed = ParseStreamId(sid);
    ASSERT_TRUE(std::holds_alternative<StreamIdError>(parsed));
    EXPECT_EQ(std::get<StreamIdError>(parsed).message.find(key), std::string::npos);
  }
}

}  // namespace
}  // namespace newsreel::streaming
