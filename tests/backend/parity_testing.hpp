// Backend parity tests (ggml's pattern: every backend compared with the CPU one by normalised
// error): each test is written once against the op table and instantiated per backend. A backend
// case says how to reach its op table and memory; the reference is always CpuOps on the host.
// Cases that cannot run here (no GPU) report themselves skipped with the reason.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "backend/ops.hpp"
#include "core/allocator.hpp"
#include "core/tensor.hpp"

namespace win::parity {

struct BackendCase {
  std::string name;
  std::function<backend::Ops&()> ops;
  std::function<Allocator&()> alloc;
  std::function<std::string()> unavailable;  // "" when the backend can run here
};

// How gtest and CTest name a case (its name, not the struct's bytes).
inline void PrintTo(const BackendCase& c, std::ostream* os) {
  *os << c.name;
}

// The cases of this build: "cpu" always (CpuOps against the plain loops of RefOps<float>, so
// oneDNN's ops are held to the same tests), "cuda" when the CUDA backend is compiled.
std::vector<BackendCase> backend_cases();

class OpParity : public testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override;
  backend::Ops& ops() { return GetParam().ops(); }
  // The reference: RefOps<float> for the CPU case, CpuOps for every other backend.
  backend::Ops& ref();
  // A copy of a host tensor in the backend's memory, same layout (contiguous or dense
  // channels-last).
  Tensor put(const Tensor& host);
  // An uninitialised backend tensor shaped and laid out like a host tensor.
  Tensor like(const Tensor& host);
  // The backend tensor back on the host.
  Tensor get(const Tensor& t);
  // Waits for the backend's queued work (a no-op on the CPU).
  void sync();
};

// Random host tensors keyed by seed: normal(0, std), optionally channels-last for 4-d shapes.
Tensor host_randn(const Dims& shape, uint64_t seed, double std = 1.0, bool channels_last = false);
// max |a - b| / max(max |b|, 1e-30): the normalised error of a against the reference b.
double normalised_error(const Tensor& a, const Tensor& b);

// Expects the backend tensor `got` to match the host reference within tol (normalised).
#define EXPECT_PARITY(got_host, ref_host, tol)                              \
  EXPECT_LE(::win::parity::normalised_error((got_host), (ref_host)), (tol)) \
      << #got_host << " vs " << #ref_host << " on " << GetParam().name

}  // namespace win::parity
