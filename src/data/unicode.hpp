// The Unicode support BERT's tokenizer needs, without ICU: UTF-8 decoding that drops invalid bytes
// the way Python's bytes.decode("utf-8", "ignore") does, the character classes of Google's
// tokenization.py (_is_whitespace, _is_control, _is_punctuation, _is_chinese_char), Python's
// str.lower() (final sigma included) and accent stripping (NFD, then drop the Mn marks). The
// tables come from Python's unicodedata via tools/gen_unicode_tables.py, so the C++ tokenizer and
// the Python reference (tools/wordpiece_reference.py) agree character for character.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace win::data::unicode {

// Returned by decode_utf8 for an invalid sequence.
inline constexpr char32_t kInvalid = 0xFFFFFFFFu;

// Decodes the code point starting at s[i] (i < s.size()) and advances i past it. For an invalid
// sequence returns kInvalid and advances past its maximal valid-looking prefix (at least one byte),
// as Python's decoder does, so a following valid character is never swallowed.
inline char32_t decode_utf8(std::string_view s, size_t& i);
// Appends the UTF-8 encoding of cp (a scalar value; anything else is dropped).
void append_utf8(std::string& out, char32_t cp);
// Whether s is valid UTF-8; if not and bad_offset is given, the offset of the first bad byte.
bool valid_utf8(std::string_view s, size_t* bad_offset = nullptr);
// The code points of s (invalid bytes dropped) and back.
std::u32string to_utf32(std::string_view s);
std::string to_utf8(std::u32string_view s);
// Number of code points (invalid bytes not counted).
size_t count_chars(std::string_view s);

enum class CharClass : uint8_t {
  Other = 0,
  Whitespace = 1,   // _is_whitespace: space, \t, \n, \r, category Zs
  Control = 2,      // _is_control: Cc or Cf, except \t \n \r
  Punctuation = 3,  // _is_punctuation: ASCII non-alphanumeric symbols, or category P*
  Mark = 4,         // Mn: dropped by accent stripping
  Separator = 5,    // U+2028 / U+2029: Python's str.split() splits on them
};
CharClass char_class(char32_t c);
inline bool is_whitespace(char32_t c) {
  return char_class(c) == CharClass::Whitespace;
}
inline bool is_control(char32_t c) {
  return char_class(c) == CharClass::Control;
}
inline bool is_punctuation(char32_t c) {
  return char_class(c) == CharClass::Punctuation;
}
// The CJK Unified Ideographs blocks (and compatibility ideographs) of _is_chinese_char; not
// Hangul, Hiragana or Katakana.
bool is_chinese_char(char32_t c);
// Unicode Cased and Case_Ignorable, as Python's str.lower() uses them for the final sigma.
bool is_cased(char32_t c);
bool is_case_ignorable(char32_t c);

// The simple lower-case mapping of str.lower() (U+0130 maps to 'i' here; lower_append gives the
// full "i" + U+0307).
char32_t simple_lower(char32_t c);
inline bool is_upper(char32_t c) {
  return simple_lower(c) != c;
}
inline bool is_lower(char32_t c) {
  return is_cased(c) && simple_lower(c) == c;
}
// Appends Python's word.lower(): full mappings and the final-sigma rule (Σ becomes ς at the end
// of a word, looking past case-ignorable characters).
void lower_append(std::u32string_view word, std::u32string& out);
// Appends c after NFD with the nonspacing marks (Mn) removed: "é" -> "e", a combining accent ->
// nothing, a Hangul syllable -> its conjoining jamo, anything else unchanged.
void strip_accents_append(char32_t c, std::u32string& out);
// Appends Python's "".join(c for c in NFD(word) if category(c) != "Mn"): strip_accents_append of
// each character plus NFD's canonical ordering of the few combining characters that are not Mn.
void strip_accents_word(std::u32string_view word, std::u32string& out);
// The canonical combining class of c if c is not a nonspacing mark (0 for almost everything).
int combining_class_unless_mn(char32_t c);

// The Unicode version of the tables (that of the Python which generated them).
const char* tables_version();

// ---- inline definitions ---------------------------------------------------------------------

inline char32_t decode_utf8(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int need;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    ++i;
    return kInvalid;
  }
  size_t j = i + 1;
  for (int k = 0; k < need; ++k, ++j) {
    if (j >= s.size()) {
      i = j;
      return kInvalid;
    }
    const auto b = static_cast<unsigned char>(s[j]);
    if (b < (k == 0 ? lo : 0x80) || b > (k == 0 ? hi : 0xBF)) {
      i = j;  // drop the prefix, resume at the offending byte
      return kInvalid;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  i = j;
  return cp;
}

}  // namespace win::data::unicode
