// Gradient-norm clipping and a finiteness check over the flat gradient buffer, for the training
// loop's numerics guard (exit code 5 on NaN/Inf, DESIGN §8). The norm is one deterministic
// reduction over the whole buffer (alignment padding holds zeros), so every rank and thread count
// gets the same bits.
#pragma once

#include "core/tensor.hpp"
#include "nn/param_store.hpp"

namespace win::train {

// sqrt(sum g^2) over every gradient of the store.
double grad_norm(nn::ParamStore& store);

// torch.nn.utils.clip_grad_norm_: with norm = grad_norm(store), multiplies every gradient by
// min(1, max_norm / (norm + 1e-6)) and returns norm (before clipping). max_norm <= 0 only
// measures. A non-finite norm leaves the gradients alone (the caller's numerics check decides).
double clip_grad_norm(nn::ParamStore& store, double max_norm);

// True when every element is finite (f32 or f64, contiguous).
bool all_finite(const Tensor& t);
bool grads_finite(nn::ParamStore& store);

}  // namespace win::train
