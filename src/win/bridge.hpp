// Bridge: the pair of bias-free linear maps WIN inserts at a block boundary (paper §2, DESIGN §2):
// M1 (D x d) lifts the thin block's output h to the teacher's width, where the imitation loss
// compares z = M1 h with the teacher's activation, and M2 (d x D) brings it back for the next
// thin block. Conv activations are mapped per pixel (a 1x1 convolution, here a matrix product on
// the channels-last memory); token activations per token.
//
// Modes: `free` — the path continues with M2 z; `tied` — M2 is M1's pseudo-inverse, so
// M2 M1 = I and the path continues with h itself: M1 is then only the read-out for imitation,
// and merging has nothing to fold (exact for every family, BERT included).
#pragma once

#include "nn/module.hpp"

namespace win::method {

enum class BridgeMode { Free, Tied };

class Bridge final : public nn::Module {
 public:
  Bridge(int64_t thin, int64_t wide, BridgeMode mode, DType dtype);

  // h (N, d), (N, T, d) or (N, d, H, W) channels-last. Computes z = M1 h and returns the path's
  // continuation: M2 z (free) or h (tied).
  Tensor forward(const Tensor& h, nn::Context& ctx) override;
  // Gradient w.r.t. h from the gradient of the output dy (may be undefined: the bridge ends the
  // network being trained) and of the imitation loss w.r.t. z given with set_wide_grad.
  Tensor backward(const Tensor& dy, nn::Context& ctx) override;

  // The halves, for the pipelined narrow schedule where a block's input is a constant (DESIGN §2):
  // lift computes z = M1 h only (returned, and wide() after it); its backward is backward() with an
  // undefined dy after set_wide_grad. lower maps a wide activation w from elsewhere (the previous
  // block's z, or the teacher's) to M2 w (free mode only); lower_backward accumulates dM2 from
  // the gradient of that output and returns nothing, since w is a constant.
  const Tensor& lift(const Tensor& h, nn::Context& ctx);
  Tensor lower(const Tensor& w, nn::Context& ctx);
  void lower_backward(const Tensor& dy);

  // z = M1 h of the last forward, shaped like h with the wide channel count.
  const Tensor& wide() const { return z_; }
  void set_wide_grad(const Tensor& dz) { dz_in_ = dz; }

  int64_t thin() const { return thin_; }
  int64_t wide_width() const { return wide_; }
  BridgeMode mode() const { return mode_; }
  nn::Param& m1() { return *m1_; }
  nn::Param* m2() { return m2_; }  // nullptr when tied
  // P = M2 M1 (d x d), the map folded into the next block when merging (I when tied).
  Tensor product() const;

 private:
  int64_t thin_, wide_;
  BridgeMode mode_;
  nn::Param* m1_;
  nn::Param* m2_ = nullptr;
  Dims h_shape_;
  Tensor h_rows_;  // the input as (rows, d)
  Tensor z_, out_;
  Tensor dz_in_;
  Tensor w_rows_, low_out_;  // lower's input (rows, D) and output
  Tensor lifted_;            // lift's input, for forward's continuation
};

// Rows view of an activation for per-position channel maps: (rows, channels). Conv activations
// must be channels-last (N, C, H, W with strides (HWC, 1, WC, C)); others contiguous.
Tensor channel_rows(const Tensor& t);

}  // namespace win::method
