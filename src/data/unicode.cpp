// Lookups in the generated Unicode tables (unicode_tables.inc, see tools/gen_unicode_tables.py):
// property runs (a direct table for the BMP, binary search above it), lower-case runs and the
// accent-stripping decompositions, plus the algorithmic Hangul decomposition.
#include "data/unicode.hpp"

#include <algorithm>
#include <array>
#include <iterator>

namespace win::data::unicode {

namespace {

struct LowerRun {
  char32_t first, last;
  int32_t stride, delta;
};
struct StripEntry {
  char32_t from;
  char32_t to[3];
};
struct NonStarter {
  char32_t cp;
  int ccc;
};

#include "data/unicode_tables.inc"

constexpr char32_t kMaxCodePoint = 0x10FFFF;

uint8_t props_search(char32_t c) {
  // The last run starting at or before c.
  const auto* it = std::upper_bound(std::begin(kProps), std::end(kProps), c,
                                    [](char32_t v, uint32_t run) { return v < (run >> 8); });
  return static_cast<uint8_t>(*(it - 1) & 0xFF);
}

// Properties of the Basic Multilingual Plane, expanded once for O(1) lookups in hot loops.
const std::array<uint8_t, 0x10000>& bmp_props() {
  static const auto table = [] {
    std::array<uint8_t, 0x10000> t{};
    for (size_t r = 0; r < std::size(kProps); ++r) {
      const uint32_t start = kProps[r] >> 8;
      if (start >= 0x10000) break;
      const uint32_t end =
          r + 1 < std::size(kProps) ? std::min(kProps[r + 1] >> 8, 0x10000u) : 0x10000u;
      std::fill(t.begin() + start, t.begin() + end, static_cast<uint8_t>(kProps[r] & 0xFF));
    }
    return t;
  }();
  return table;
}

inline uint8_t props(char32_t c) {
  if (c < 0x10000) return bmp_props()[c];
  if (c > kMaxCodePoint) return 0;
  return props_search(c);
}

constexpr char32_t kHangulFirst = 0xAC00, kHangulLast = 0xD7A3;

}  // namespace

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    if (cp >= 0xD800 && cp <= 0xDFFF) return;
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp <= kMaxCodePoint) {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool valid_utf8(std::string_view s, size_t* bad_offset) {
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    if (decode_utf8(s, i) == kInvalid) {
      if (bad_offset) *bad_offset = at;
      return false;
    }
  }
  return true;
}

std::u32string to_utf32(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const char32_t c = decode_utf8(s, i);
    if (c != kInvalid) out.push_back(c);
  }
  return out;
}

std::string to_utf8(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

size_t count_chars(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) n += decode_utf8(s, i) != kInvalid;
  return n;
}

CharClass char_class(char32_t c) {
  return static_cast<CharClass>(props(c) & 7);
}
bool is_cased(char32_t c) {
  return (props(c) & 8) != 0;
}
bool is_case_ignorable(char32_t c) {
  return (props(c) & 16) != 0;
}

bool is_chinese_char(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

char32_t simple_lower(char32_t c) {
  if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
  if (c == 0x130) return 'i';
  const auto* it = std::upper_bound(std::begin(kLowerRuns), std::end(kLowerRuns), c,
                                    [](char32_t v, const LowerRun& r) { return v < r.first; });
  if (it == std::begin(kLowerRuns)) return c;
  const LowerRun& r = *(it - 1);
  if (c > r.last || (c - r.first) % static_cast<char32_t>(r.stride) != 0) return c;
  return static_cast<char32_t>(static_cast<int64_t>(c) + r.delta);
}

void lower_append(std::u32string_view word, std::u32string& out) {
  const size_t n = word.size();
  for (size_t i = 0; i < n; ++i) {
    const char32_t c = word[i];
    if (c < 0x80) {
      out.push_back((c >= 'A' && c <= 'Z') ? c + 32 : c);
    } else if (c == 0x130) {  // İ: "i" + combining dot above
      out.push_back('i');
      out.push_back(0x307);
    } else if (c == 0x3A3) {  // Σ: final form after a cased letter, unless one follows
      size_t j = i;
      while (j > 0 && is_case_ignorable(word[j - 1])) --j;
      bool final_sigma = j > 0 && is_cased(word[j - 1]);
      if (final_sigma) {
        size_t k = i + 1;
        while (k < n && is_case_ignorable(word[k])) ++k;
        final_sigma = k == n || !is_cased(word[k]);
      }
      out.push_back(final_sigma ? 0x3C2 : 0x3C3);
    } else {
      out.push_back(simple_lower(c));
    }
  }
}

void strip_accents_append(char32_t c, std::u32string& out) {
  if (c < 0xC0) {  // nothing below À decomposes
    out.push_back(c);
    return;
  }
  if (char_class(c) == CharClass::Mark) return;
  if (c >= kHangulFirst && c <= kHangulLast) {  // Unicode §3.12 syllable decomposition
    const char32_t s = c - kHangulFirst;
    out.push_back(0x1100 + s / (21 * 28));
    out.push_back(0x1161 + (s % (21 * 28)) / 28);
    if (s % 28) out.push_back(0x11A7 + s % 28);
    return;
  }
  const uint64_t key = static_cast<uint64_t>(c) << 21;
  const auto* it = std::lower_bound(std::begin(kStrip1), std::end(kStrip1), key);
  if (it != std::end(kStrip1) && (*it >> 21) == c) {
    out.push_back(static_cast<char32_t>(*it & 0x1FFFFF));
    return;
  }
  const auto* m = std::lower_bound(std::begin(kStrip), std::end(kStrip), c,
                                   [](const StripEntry& e, char32_t v) { return e.from < v; });
  if (m != std::end(kStrip) && m->from == c) {
    for (char32_t t : m->to)
      if (t) out.push_back(t);
    return;
  }
  out.push_back(c);
}

int combining_class_unless_mn(char32_t c) {
  if (c < kNonStarters[0].cp) return 0;
  const auto* it = std::lower_bound(std::begin(kNonStarters), std::end(kNonStarters), c,
                                    [](const NonStarter& n, char32_t v) { return n.cp < v; });
  return it != std::end(kNonStarters) && it->cp == c ? it->ccc : 0;
}

void strip_accents_word(std::u32string_view word, std::u32string& out) {
  // [run, out.size()) is the current run of reorderable (nonzero class) characters.
  size_t run = out.size();
  auto sort_run = [&](size_t end) {
    if (end >= run + 2)
      std::stable_sort(out.begin() + static_cast<std::ptrdiff_t>(run),
                       out.begin() + static_cast<std::ptrdiff_t>(end), [](char32_t a, char32_t b) {
                         return combining_class_unless_mn(a) < combining_class_unless_mn(b);
                       });
  };
  for (char32_t c : word) {
    if (c < 0x300) {  // the common case: a starter without marks
      sort_run(out.size());
      strip_accents_append(c, out);
      run = out.size();
      continue;
    }
    if (char_class(c) == CharClass::Mark) {
      if (props(c) & 32) {  // a class-0 mark ends the run
        sort_run(out.size());
        run = out.size();
      }
      continue;
    }
    const size_t from = out.size();
    strip_accents_append(c, out);
    for (size_t i = from; i < out.size(); ++i) {
      if (combining_class_unless_mn(out[i]) == 0) {
        sort_run(i);
        run = i + 1;
      }
    }
  }
  sort_run(out.size());
}

const char* tables_version() {
  return kUnicodeVersion;
}

}  // namespace win::data::unicode
