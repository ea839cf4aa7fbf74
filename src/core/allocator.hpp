// Memory behind tensors. A Storage is an intrusively reference-counted block so that copying a
// tensor or making a view costs an atomic increment, never a heap allocation. Two allocators:
// HeapAllocator (long-lived buffers: parameters, activations, optimizer state) and Arena (scratch
// that is rewound every step). Both count the memory they take from the system, which is how tests
// prove that the steady-state training step allocates nothing.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/dtype.hpp"

namespace win {

class Allocator;

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  Allocator* owner = nullptr;
  void* base = nullptr;  // the block to free, when the allocator needs it
  std::atomic<int64_t> refs{1};
};

// Counters every allocator keeps.
struct AllocStats {
  int64_t system_allocations = 0;  // blocks taken from the system so far
  int64_t live_blocks = 0;         // storages handed out and not yet released
  size_t bytes_in_use = 0;
  size_t peak_bytes = 0;
  size_t reserved_bytes = 0;  // memory held from the system
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns a Storage with refs == 1 and at least `bytes` bytes, 64-byte aligned.
  virtual Storage* allocate(size_t bytes) = 0;
  // The same, filled with zeros. The heap allocator gets zero pages from the system for fresh
  // memory instead of writing them (a model's gradient buffers cost nothing until used).
  virtual Storage* allocate_zeroed(size_t bytes);
  // Called when the last reference goes away.
  virtual void release(Storage* s) = 0;
  virtual Device device() const = 0;
  virtual AllocStats stats() const = 0;
};

// 64-byte aligned heap memory; one system allocation per storage (header and data together).
class HeapAllocator final : public Allocator {
 public:
  Storage* allocate(size_t bytes) override;
  Storage* allocate_zeroed(size_t bytes) override;
  void release(Storage* s) override;
  Device device() const override { return Device::CPU; }
  AllocStats stats() const override;
  // Starts a new peak from what is in use now (to measure one phase of a process).
  void reset_peak();

 private:
  Storage* make(size_t bytes, bool zeroed);
  mutable std::mutex mu_;
  AllocStats stats_;
};

// The process-wide CPU heap allocator used when none is named.
HeapAllocator& cpu_allocator();

// The allocator for new tensors that must live where an existing one does (empty_like): CPU ->
// cpu_allocator(); another device -> the allocator its backend registered when it was first used
// (a device tensor exists only once its backend made one, so this cannot be asked too early).
Allocator& allocator_for(Device device);
void register_device_allocator(Allocator& a);

// Bump allocator for per-step scratch. reset() rewinds it; when a step needed more than one
// chunk, reset() replaces them with one chunk of the combined size, so from the second step on a
// step of the same shape takes nothing from the system. Not thread-safe: one arena per thread.
class Arena final : public Allocator {
 public:
  explicit Arena(size_t initial_bytes = 1 << 20);
  ~Arena() override;
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  Storage* allocate(size_t bytes) override;
  void release(Storage* s) override;
  Device device() const override { return Device::CPU; }
  AllocStats stats() const override { return stats_; }

  // Rewinds the arena. Tensors allocated from it must all be gone (checked: a live one would
  // dangle), otherwise this throws an internal error.
  void reset();

 private:
  struct Chunk {
    std::byte* base;
    size_t size;
    size_t used;
  };
  void add_chunk(size_t min_bytes);
  std::vector<Chunk> chunks_;
  AllocStats stats_;
};

}  // namespace win
