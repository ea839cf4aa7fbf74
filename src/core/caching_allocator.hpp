// CachingAllocator: recycles blocks for tensors that live for part of a step — the gradients that
// flow backward from layer to layer and backward's scratch. Before it, every layer kept its own
// input-gradient buffer for the whole run, so a backward held one activation-sized gradient per
// layer although only two or three are alive at any moment (the one being read and the one being
// written, plus a residual block's shortcut gradient). Blocks released here go to a free list of
// their size class and only a request of that class takes one back: a step then holds at most as
// many blocks of a class at once as the step before it of the same shapes, so from the second
// step on nothing comes from the backing allocator (sharing blocks between classes would save a
// few percent but can make a later step miss where an earlier one did not). Peak memory follows
// the gradients that are alive rather than the number of layers.
//
// Device memory is reused in the host's order of release. That is safe for work queued on one
// stream (the compute stream) behind which the block's earlier readers run; a tensor read by
// another stream must be kept alive by whoever queued that work until the other stream is joined
// (as ActivationLink and GradientSync do). Hence also one thread per process issues the GPU work
// whose tensors come from here (the training thread; each thread has a compute stream of its
// own, unordered with the others).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "core/allocator.hpp"

namespace win {

class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(Allocator& backing) : backing_(backing) {}
  // Returns the cached blocks; blocks still handed out must be gone by then.
  ~CachingAllocator() override;
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // When the backing allocator fails, the cache is given back and the request tried once more.
  Storage* allocate(size_t bytes) override;
  // Host blocks are zeroed here; device zeros come from the backing allocator, uncached.
  Storage* allocate_zeroed(size_t bytes) override;
  void release(Storage* s) override;
  Device device() const override { return backing_.device(); }
  // system_allocations: blocks taken from the backing allocator; bytes_in_use/peak_bytes: blocks
  // handed out (by size class); reserved_bytes: handed out plus cached.
  AllocStats stats() const override;
  // Starts a new peak from what is handed out now (to measure one phase of a process).
  void reset_peak();
  // Gives every cached block back to the backing allocator (between stages of a run, whose
  // shapes differ).
  void trim();

  // The size class of a request: blocks are shared by requests that round to the same class.
  static size_t size_class(size_t bytes);

 private:
  Allocator& backing_;
  mutable std::mutex mu_;
  // size class -> cached blocks; emptied lists stay, so a steady step's releases allocate nothing
  std::map<size_t, std::vector<Storage*>> free_;
  AllocStats stats_;
};

// The transient pool of `device` over its allocator (allocator_for): one per device for the
// process, never destroyed (tensors held by other statics may be released during exit).
CachingAllocator& transient_allocator(Device device);

}  // namespace win
