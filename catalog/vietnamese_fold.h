#pragma once
// Folding text for search, so that a query typed without Vietnamese marks, or in another case,
// finds the text written with them: "son la" finds "Sơn La", "DIEN BIEN" finds "Điện Biên".

#include <string>
#include <string_view>

namespace newsreel::catalog {

// Returns `utf8` lower-cased with its diacritics removed:
//  - ASCII letters are lower-cased;
//  - precomposed Latin letters (U+00C0..U+024F, U+1E00..U+1EFF, which hold every Vietnamese
//    letter) become their base letter: "Ấ" -> "a", "ữ" -> "u";
//  - đ/Đ (which Unicode does not decompose) and the look-alike Ð/ð become "d";
//  - combining marks U+0300..U+036F are dropped, so decomposed (NFD) input folds the same way;
//  - other characters are copied unchanged (the FTS tokenizer case-folds them itself);
//  - bytes that are not valid UTF-8 become a space.
// Pure and thread-safe. The catalog applies it to indexed text and to queries alike.
std::string FoldVietnamese(std::string_view utf8);

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or values past U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace newsreel::catalog
