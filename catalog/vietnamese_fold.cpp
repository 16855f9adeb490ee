#include "catalog/vietnamese_fold.h"

#include <cstdint>

namespace newsreel::catalog {
namespace {

// Base letters of U+00C0..U+024F and U+1E00..U+1EFF, generated from Unicode's canonical
// decompositions (the first character of the NFD form when it is an ASCII letter), plus the
// letters that have no decomposition but read as one: đ Đ Ð ð Ɖ -> d, Ø ø -> o, Ł ł -> l,
// ı -> i. '.' marks a character that is not a letter with marks; it is copied unchanged.
constexpr char kLatin1AndExtended[] =                                    // U+00C0..U+024F
    "aaaaaa.ceeeeiiiidnooooo.ouuuuy..aaaaaa.ceeeeiiiidnooooo.ouuuuy.y"   // U+00C0
    "aaaaaaccccccccddddeeeeeeeeeegggggggghh..iiiiiiiiii..jjkk.llllll."   // U+0100
    ".llnnnnnn...oooooo..rrrrrrsssssssstttt..uuuuuuuuuuuuwwyyyzzzzzz."   // U+0140
    ".........d......................oo.............uu..............."   // U+0180
    ".............aaiioouuuuuuuuuu.aaaa....ggkkoooo..j...gg..nnaa...."   // U+01C0
    "aaaaeeeeiiiioooorrrruuuusstt..hh......aaeeooooooooyy............"   // U+0200
    "................";                                                  // U+0240
constexpr char kLatinExtendedAdditional[] =                              // U+1E00..U+1EFF
    "aabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmm"   // U+1E00
    "mmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvv"   // U+1E40
    "wwwwwwwwwwxxxxyyzzzzzzhtwy......aaaaaaaaaaaaaaaaaaaaaaaaeeeeeeee"   // U+1E80
    "eeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyy......";  // U+1EC0

static_assert(sizeof kLatin1AndExtended - 1 == 0x250 - 0xC0);
static_assert(sizeof kLatinExtendedAdditional - 1 == 0x100);

// Decodes one code point at text[*pos], advancing *pos. Returns -1 (advancing one byte) when the
// bytes there are not well-formed UTF-8.
int32_t DecodeOne(std::string_view text, size_t* pos) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t i = *pos;
  size_t n = text.size();
  unsigned char c = s[i];
  if (c < 0x80) {
    *pos = i + 1;
    return c;
  }
  int len;
  int32_t cp;
  int32_t min;
  if ((c & 0xE0) == 0xC0) {
    len = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    *pos = i + 1;
    return -1;
  }
  if (i + len > n) {
    *pos = i + 1;
    return -1;
  }
  for (int k = 1; k < len; ++k) {
    if ((s[i + k] & 0xC0) != 0x80) {
      *pos = i + 1;
      return -1;
    }
    cp = (cp << 6) | (s[i + k] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *pos = i + 1;
    return -1;
  }
  *pos = i + len;
  return cp;
}

char BaseLetter(int32_t cp) {
  char base = '.';
  if (cp >= 0xC0 && cp < 0x250) {
    base = kLatin1AndExtended[cp - 0xC0];
  } else if (cp >= 0x1E00 && cp < 0x1F00) {
    base = kLatinExtendedAdditional[cp - 0x1E00];
  }
  return base == '.' ? '\0' : base;
}

}  // namespace

std::string FoldVietnamese(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size());
  size_t pos = 0;
  while (pos < utf8.size()) {
    size_t start = pos;
    int32_t cp = DecodeOne(utf8, &pos);
    if (cp < 0) {
      out.push_back(' ');
    } else if (cp < 0x80) {
      char c = static_cast<char>(cp);
      out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    } else if (cp >= 0x300 && cp <= 0x36F) {
      // A combining mark: drop it.
    } else if (char base = BaseLetter(cp)) {
      out.push_back(base);
    } else {
      out.append(utf8.substr(start, pos - start));
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    if (DecodeOne(text, &pos) < 0) return false;
  }
  return true;
}

}  // namespace newsreel::catalog
