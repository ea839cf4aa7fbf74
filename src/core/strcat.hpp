// String building without std::format (g++ 12 lacks it): cat(a, b, c) streams every
// argument into one string. Used by errors and logging so messages read naturally.
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace win {

template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// "[2, 3, 4]" for shapes and lists in messages.
template <class T>
std::string list_str(const std::vector<T>& v) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << ']';
  return os.str();
}

// Human byte counts: 1.5 MiB.
std::string bytes_str(double bytes);

}  // namespace win
