// HeapAllocator and Arena (see allocator.hpp).
#include "core/allocator.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.hpp"

namespace win {

namespace {
constexpr size_t kAlign = 64;
// The Storage header sits in the first 64 bytes so that the data that follows stays aligned.
constexpr size_t kHeader = (sizeof(Storage) + kAlign - 1) / kAlign * kAlign;
size_t round_up(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}
}  // namespace

Storage* Allocator::allocate_zeroed(size_t bytes) {
  Storage* s = allocate(bytes);
  std::memset(s->data, 0, bytes);
  return s;
}

// Header and data in one block from calloc/malloc, aligned by hand: the header records the block
// so release() can free it. calloc hands out fresh pages already zero, without touching them.
Storage* HeapAllocator::make(size_t bytes, bool zeroed) {
  const size_t total = kHeader + round_up(bytes) + kAlign;
  void* base = zeroed ? std::calloc(1, total) : std::malloc(total);
  if (!base)
    WIN_FAIL(ErrorKind::Internal, "out of host memory allocating ", bytes_str(double(bytes)));
  auto* p = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(base) + kAlign - 1) / kAlign *
                                         kAlign);
  auto* s = new (p) Storage;
  s->data = p + kHeader;
  s->bytes = bytes;
  s->device = Device::CPU;
  s->owner = this;
  s->base = base;
  std::lock_guard lock(mu_);
  stats_.system_allocations++;
  stats_.live_blocks++;
  stats_.bytes_in_use += bytes;
  stats_.reserved_bytes += total;
  if (stats_.bytes_in_use > stats_.peak_bytes) stats_.peak_bytes = stats_.bytes_in_use;
  return s;
}

Storage* HeapAllocator::allocate(size_t bytes) {
  return make(bytes, false);
}
Storage* HeapAllocator::allocate_zeroed(size_t bytes) {
  return make(bytes, true);
}

void HeapAllocator::release(Storage* s) {
  {
    std::lock_guard lock(mu_);
    stats_.live_blocks--;
    stats_.bytes_in_use -= s->bytes;
    stats_.reserved_bytes -= kHeader + round_up(s->bytes) + kAlign;
  }
  void* base = s->base;
  s->~Storage();
  std::free(base);
}

void HeapAllocator::reset_peak() {
  std::lock_guard lock(mu_);
  stats_.peak_bytes = stats_.bytes_in_use;
}

AllocStats HeapAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

HeapAllocator& cpu_allocator() {
  static HeapAllocator a;
  return a;
}

namespace {
std::atomic<Allocator*> g_cuda_allocator{nullptr};
}

void register_device_allocator(Allocator& a) {
  WIN_CHECK(a.device() == Device::CUDA, ErrorKind::Internal,
            "register_device_allocator: only device allocators are registered");
  g_cuda_allocator.store(&a);
}

Allocator& allocator_for(Device device) {
  if (device == Device::CPU) return cpu_allocator();
  Allocator* a = g_cuda_allocator.load();
  WIN_CHECK(a != nullptr, ErrorKind::Internal, "no allocator registered for device ",
            device_name(device), " (this build has no such backend, or it was never used)");
  return *a;
}

Arena::Arena(size_t initial_bytes) {
  add_chunk(initial_bytes);
}

Arena::~Arena() {
  for (auto& c : chunks_) std::free(c.base);
}

void Arena::add_chunk(size_t min_bytes) {
  const size_t size = round_up(min_bytes < (1u << 16) ? (1u << 16) : min_bytes);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlign, size));
  if (!p)
    WIN_FAIL(ErrorKind::Internal, "out of host memory growing arena by ", bytes_str(double(size)));
  chunks_.push_back({p, size, 0});
  stats_.system_allocations++;
  stats_.reserved_bytes += size;
}

Storage* Arena::allocate(size_t bytes) {
  const size_t need = kHeader + round_up(bytes);
  if (chunks_.back().used + need > chunks_.back().size) add_chunk(need);
  Chunk& c = chunks_.back();
  auto* s = new (c.base + c.used) Storage;
  s->data = c.base + c.used + kHeader;
  s->bytes = bytes;
  s->device = Device::CPU;
  s->owner = this;
  c.used += need;
  stats_.live_blocks++;
  stats_.bytes_in_use += need;
  if (stats_.bytes_in_use > stats_.peak_bytes) stats_.peak_bytes = stats_.bytes_in_use;
  return s;
}

void Arena::release(Storage* s) {
  stats_.live_blocks--;
  s->~Storage();  // memory comes back at reset()
}

void Arena::reset() {
  WIN_ASSERT(stats_.live_blocks == 0, "arena reset with ", stats_.live_blocks,
             " tensors still alive");
  if (chunks_.size() > 1) {
    size_t total = 0;
    for (auto& c : chunks_) {
      total += c.size;
      std::free(c.base);
    }
    stats_.reserved_bytes = 0;
    chunks_.clear();
    add_chunk(total);
  }
  chunks_.back().used = 0;
  stats_.bytes_in_use = 0;
}

}  // namespace win
