// CPU stand-in for cub::DeviceRadixSort::SortPairs (see ../../cuda_runtime.h): a stable sort of
// (key, value) pairs by the key bits [begin_bit, end_bit), as CUB's radix sort is stable. The
// temporary-storage query answers one byte, so the launchers' scratch arithmetic is exercised.
#pragma once

#include <algorithm>
#include <cstddef>
#include <numeric>
#include <vector>

#include "../../cuda_runtime.h"

namespace cub {

struct DeviceRadixSort {
  template <class K, class V>
  static cudaError_t SortPairs(void* temp, size_t& temp_bytes, const K* keys_in, K* keys_out,
                               const V* values_in, V* values_out, int items, int begin_bit = 0,
                               int end_bit = static_cast<int>(sizeof(K) * 8),
                               cudaStream_t = nullptr) {
    if (temp == nullptr) {
      temp_bytes = 1;
      return cudaSuccess;
    }
    if (temp_bytes < 1 || items < 0 || begin_bit < 0 || end_bit > static_cast<int>(sizeof(K) * 8))
      return cudaErrorInvalidValue;
    const int width = end_bit - begin_bit;
    const K mask = width >= static_cast<int>(sizeof(K) * 8) ? static_cast<K>(~K{0})
                                                            : static_cast<K>((K{1} << width) - 1);
    auto bits = [&](K k) { return static_cast<K>((k >> begin_bit) & mask); };
    std::vector<int> order(static_cast<size_t>(items));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return bits(keys_in[a]) < bits(keys_in[b]); });
    std::vector<K> k(static_cast<size_t>(items));
    std::vector<V> v(static_cast<size_t>(items));
    for (int i = 0; i < items; ++i) {
      k[static_cast<size_t>(i)] = keys_in[order[static_cast<size_t>(i)]];
      v[static_cast<size_t>(i)] = values_in[order[static_cast<size_t>(i)]];
    }
    std::copy(k.begin(), k.end(), keys_out);
    std::copy(v.begin(), v.end(), values_out);
    return cudaSuccess;
  }
};

}  // namespace cub
