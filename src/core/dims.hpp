// Dims: a fixed-capacity list of up to 8 extents or strides, stored inline so that making a
// tensor view never touches the heap (the steady-state training step allocates nothing).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

#include "core/error.hpp"

namespace win {

class Dims {
 public:
  static constexpr int kMax = 8;

  Dims() = default;
  Dims(std::initializer_list<int64_t> v) { assign(v.begin(), v.end()); }
  explicit Dims(const std::vector<int64_t>& v) { assign(v.begin(), v.end()); }

  int size() const { return n_; }
  bool empty() const { return n_ == 0; }
  int64_t operator[](int i) const { return d_[static_cast<size_t>(i)]; }
  int64_t& operator[](int i) { return d_[static_cast<size_t>(i)]; }
  const int64_t* begin() const { return d_.data(); }
  const int64_t* end() const { return d_.data() + n_; }
  int64_t back() const { return d_[static_cast<size_t>(n_ - 1)]; }

  void push_back(int64_t v) {
    WIN_CHECK(n_ < kMax, ErrorKind::Internal, "tensor rank above ", kMax);
    d_[static_cast<size_t>(n_++)] = v;
  }
  void erase(int i) {
    for (int j = i; j + 1 < n_; ++j) d_[static_cast<size_t>(j)] = d_[static_cast<size_t>(j + 1)];
    --n_;
  }
  int64_t product() const {
    int64_t p = 1;
    for (int i = 0; i < n_; ++i) p *= d_[static_cast<size_t>(i)];
    return p;
  }
  std::vector<int64_t> vec() const { return {begin(), end()}; }

  friend bool operator==(const Dims& a, const Dims& b) {
    if (a.n_ != b.n_) return false;
    for (int i = 0; i < a.n_; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  friend std::ostream& operator<<(std::ostream& os, const Dims& d) {
    os << '[';
    for (int i = 0; i < d.n_; ++i) os << (i ? ", " : "") << d[i];
    return os << ']';
  }

 private:
  template <class It>
  void assign(It b, It e) {
    n_ = 0;
    for (; b != e; ++b) push_back(*b);
  }
  std::array<int64_t, kMax> d_{};
  int n_ = 0;
};

}  // namespace win
