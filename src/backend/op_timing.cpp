// Per-op GPU timings (see op_timing.hpp): CUDA events in a pool, resolved when they are taken.
#include "backend/op_timing.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>

#if WIN_HAVE_CUDA
#include "backend/cuda/cuda_check.hpp"
#include "backend/cuda/cuda_context.hpp"
#include "backend/cuda/op_timer.hpp"
#endif

namespace win::backend {

namespace {
std::atomic<bool> g_on{false};
}

void set_op_timing(bool on) {
  g_on.store(on);
}
bool op_timing_on() {
  return g_on.load();
}

const char* op_label(const std::string& s) {
  static std::mutex mu;
  static std::set<std::string> labels;  // node-based: the strings never move
  const std::lock_guard<std::mutex> lock(mu);
  return labels.insert(s).first->c_str();
}

#if WIN_HAVE_CUDA

namespace {

struct Record {
  const char* name;
  const char* detail;
  cudaEvent_t start, stop;
};

// Per thread: ops and their events belong to the thread's CUDA context.
struct Recorder {
  std::vector<Record> records;
  std::vector<cudaEvent_t> pool;
  int depth = 0;
  ~Recorder() {
    for (const Record& r : records) {
      cudaEventDestroy(r.start);
      cudaEventDestroy(r.stop);
    }
    for (cudaEvent_t e : pool) cudaEventDestroy(e);
  }
};
Recorder& recorder() {
  thread_local Recorder r;
  return r;
}

}  // namespace

ScopedOpTimer::ScopedOpTimer(const char* name, const char* detail) {
  Recorder& r = recorder();
  const bool outermost = r.depth++ == 0;  // balanced by the destructor in every case
  if (!g_on.load() || !outermost) return;
  // Never throws (the destructor would not run): a failed record drops this sample.
  if (r.pool.empty()) {
    if (cudaEventCreate(&start_) != cudaSuccess) return;
  } else {
    start_ = r.pool.back();
    r.pool.pop_back();
  }
  if (cudaEventRecord(start_, cuda_context().stream()) != cudaSuccess) {
    r.pool.push_back(start_);
    return;
  }
  name_ = name;
  detail_ = detail;
}

ScopedOpTimer::~ScopedOpTimer() {
  Recorder& r = recorder();
  --r.depth;
  if (!name_) return;
  // A destructor must not throw: a failed record drops this sample.
  cudaEvent_t stop = nullptr;
  if (r.pool.empty()) {
    if (cudaEventCreate(&stop) != cudaSuccess) return;
  } else {
    stop = r.pool.back();
    r.pool.pop_back();
  }
  if (cudaEventRecord(stop, cuda_context().stream()) != cudaSuccess) {
    r.pool.push_back(stop);
    r.pool.push_back(start_);
    return;
  }
  r.records.push_back({name_, detail_, start_, stop});
}

namespace {
std::vector<OpTiming> largest_first(const std::map<std::string, OpTiming>& sums) {
  std::vector<OpTiming> out;
  for (const auto& [name, t] : sums) out.push_back(t);
  std::sort(out.begin(), out.end(),
            [](const OpTiming& a, const OpTiming& b) { return a.ms > b.ms; });
  return out;
}
}  // namespace

std::vector<OpTiming> take_op_timings(std::vector<OpTiming>* detailed) {
  Recorder& r = recorder();
  std::map<std::string, OpTiming> sums, details;
  if (!r.records.empty()) WIN_CUDA_CHECK(cudaEventSynchronize(r.records.back().stop));
  for (const Record& rec : r.records) {
    float ms = 0;
    WIN_CUDA_CHECK(cudaEventElapsedTime(&ms, rec.start, rec.stop));
    OpTiming& t = sums[rec.name];
    t.name = rec.name;
    ++t.calls;
    t.ms += ms;
    if (rec.detail) {
      const std::string key = std::string(rec.name) + " " + rec.detail;
      OpTiming& d = details[key];
      d.name = key;
      ++d.calls;
      d.ms += ms;
    }
    r.pool.push_back(rec.start);
    r.pool.push_back(rec.stop);
  }
  r.records.clear();
  if (detailed) *detailed = largest_first(details);
  return largest_first(sums);
}

#else

std::vector<OpTiming> take_op_timings(std::vector<OpTiming>* detailed) {
  if (detailed) detailed->clear();
  return {};
}

#endif

}  // namespace win::backend
