#include "catalog/vietnamese_fold.h"

#include <gtest/gtest.h>

namespace newsreel::catalog {
namespace {

TEST(FoldVietnameseTest, PlaceNamesLoseMarksAndCase) {
  EXPECT_EQ(FoldVietnamese("Sơn La"), "son la");
  EXPECT_EQ(FoldVietnamese("Điện Biên Phủ"), "dien bien phu");
  EXPECT_EQ(FoldVietnamese("ĐIỆN BIÊN"), "dien bien");
  EXPECT_EQ(FoldVietnamese("Thừa Thiên Huế"), "thua thien hue");
  EXPECT_EQ(FoldVietnamese("Bà Rịa – Vũng Tàu"), "ba ria – vung tau");
  EXPECT_EQ(FoldVietnamese("Đắk Lắk"), "dak lak");
}

TEST(FoldVietnameseTest, EveryVietnameseLetterFoldsToItsBase) {
  struct Row {
    const char* letters;
    char base;
  };
  // Each vowel with no mark and with the five tones, in lower and upper case.
  const Row rows[] = {
      {"aàáảãạăằắẳẵặâầấẩẫậAÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ", 'a'},
      {"eèéẻẽẹêềếểễệEÈÉẺẼẸÊỀẾỂỄỆ", 'e'},
      {"iìíỉĩịIÌÍỈĨỊ", 'i'},
      {"oòóỏõọôồốổỗộơờớởỡợOÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ", 'o'},
      {"uùúủũụưừứửữựUÙÚỦŨỤƯỪỨỬỮỰ", 'u'},
      {"yỳýỷỹỵYỲÝỶỸỴ", 'y'},
      {"dđDĐ", 'd'},
  };
  for (const Row& row : rows) {
    std::string folded = FoldVietnamese(row.letters);
    EXPECT_EQ(folded, std::string(folded.size(), row.base)) << row.letters;
    // One output letter per input letter: nothing dropped, nothing left over.
    size_t letters = 0;
    for (const char* p = row.letters; *p; ++p) letters += (*p & 0xC0) != 0x80;
    EXPECT_EQ(folded.size(), letters) << row.letters;
  }
}

TEST(FoldVietnameseTest, DecomposedInputFoldsLikePrecomposed) {
  // "Sơn La" and "Điện" typed as base letters plus combining marks (NFD).
  EXPECT_EQ(FoldVietnamese("So\xCC\x9Bn La"), "son la");
  EXPECT_EQ(FoldVietnamese("\xC4\x90ie\xCC\xA3\xCC\x82n"), "dien");
  // Old-style and new-style tone placement fold the same.
  EXPECT_EQ(FoldVietnamese("hoà"), FoldVietnamese("hòa"));
}

TEST(FoldVietnameseTest, IcelandicEthIsTakenForD) {
  // Some keyboards produce Ð (U+00D0) for Đ (U+0110).
  EXPECT_EQ(FoldVietnamese("ÐIỆN BIÊN"), "dien bien");
}

TEST(FoldVietnameseTest, OtherScriptsAndPunctuationPassThrough) {
  EXPECT_EQ(FoldVietnamese("Москва 東京 — 42!"), "Москва 東京 — 42!");
  EXPECT_EQ(FoldVietnamese("\"quoted\" (x) *y* -z:"), "\"quoted\" (x) *y* -z:");
  EXPECT_EQ(FoldVietnamese(""), "");
}

TEST(FoldVietnameseTest, InvalidBytesBecomeSpaces) {
  EXPECT_EQ(FoldVietnamese("a\xFF"
                           "b"),
            "a b");
  EXPECT_EQ(FoldVietnamese("S\xC6"), "s ");     // truncated sequence at the end
  EXPECT_EQ(FoldVietnamese("\xC0\xAF"), "  ");  // overlong '/'
}

TEST(IsValidUtf8Test, AcceptsWellFormedRejectsMalformed) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("Điện Biên 😀"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(IsValidUtf8("abc\xE1\xBB"));       // truncated
  EXPECT_FALSE(IsValidUtf8("\x80"));              // lone continuation byte
}

}  // namespace
}  // namespace newsreel::catalog
