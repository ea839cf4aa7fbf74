// CachingAllocator (see caching_allocator.hpp).
#include "core/caching_allocator.hpp"

#include <bit>
#include <cstring>
#include <exception>

#include "core/error.hpp"

namespace win {

CachingAllocator::~CachingAllocator() {
  trim();
}

size_t CachingAllocator::size_class(size_t bytes) {
  // Multiples of 512 bytes up to 8 KiB, then 16 classes per power of two: a block serves requests
  // up to 1/16 smaller than itself, so slightly different shapes share blocks and waste little.
  constexpr size_t kMin = 512;
  if (bytes <= 16 * kMin) return (bytes + kMin - 1) / kMin * kMin;
  const size_t step = std::bit_floor(bytes) / 16;
  return (bytes + step - 1) / step * step;
}

Storage* CachingAllocator::allocate(size_t bytes) {
  const size_t cls = size_class(bytes);
  Storage* s = nullptr;
  {
    std::lock_guard lock(mu_);
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      s = it->second.back();
      it->second.pop_back();
    }
  }
  if (!s) {
    // Outside the lock: a device allocation may take a while. Out of memory, the blocks cached
    // for other classes (an earlier phase's shapes) may be what is missing.
    try {
      s = backing_.allocate(cls);
    } catch (const std::exception&) {
      trim();
      s = backing_.allocate(cls);
    }
    std::lock_guard lock(mu_);
    stats_.system_allocations++;
    stats_.reserved_bytes += cls;
  }
  s->owner = this;
  s->refs.store(1);
  std::lock_guard lock(mu_);
  stats_.live_blocks++;
  stats_.bytes_in_use += s->bytes;
  if (stats_.bytes_in_use > stats_.peak_bytes) stats_.peak_bytes = stats_.bytes_in_use;
  return s;
}

Storage* CachingAllocator::allocate_zeroed(size_t bytes) {
  if (device() == Device::CPU) {
    Storage* s = allocate(bytes);
    std::memset(s->data, 0, s->bytes);
    return s;
  }
  // Device memory is zeroed by its own allocator (a device memset), which this one cannot do to
  // a cached block: zeroed device requests bypass the pool and go back to the backing allocator.
  return backing_.allocate_zeroed(bytes);
}

void CachingAllocator::release(Storage* s) {
  std::lock_guard lock(mu_);
  stats_.live_blocks--;
  stats_.bytes_in_use -= s->bytes;
  free_[s->bytes].push_back(s);  // s->bytes is its size class: the backing allocation's size
}

AllocStats CachingAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mu_);
  stats_.peak_bytes = stats_.bytes_in_use;
}

void CachingAllocator::trim() {
  std::map<size_t, std::vector<Storage*>> blocks;
  {
    std::lock_guard lock(mu_);
    blocks.swap(free_);
    for (const auto& [cls, list] : blocks) stats_.reserved_bytes -= cls * list.size();
  }
  for (auto& [cls, list] : blocks)
    for (Storage* s : list) {
      s->owner = &backing_;
      backing_.release(s);
    }
}

CachingAllocator& transient_allocator(Device device) {
  if (device == Device::CPU) {
    static auto* cpu = new CachingAllocator(cpu_allocator());
    return *cpu;
  }
  WIN_CHECK(device == Device::CUDA, ErrorKind::Internal, "no transient pool for device ",
            device_name(device));
  static auto* cuda = new CachingAllocator(allocator_for(Device::CUDA));
  return *cuda;
}

}  // namespace win
