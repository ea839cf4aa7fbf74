// Implementation of the layer/loss test oracles (see nn_testing.hpp).
#include "nn_testing.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/rng.hpp"

namespace win::testing_nn {

namespace {

int64_t offset_of(const Tensor& t, int64_t flat) {
  int64_t off = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    off += (flat % t.size(d)) * t.stride(d);
    flat /= t.size(d);
  }
  return off;
}

std::vector<int64_t> probe_indices(int64_t n, int max) {
  std::vector<int64_t> idx;
  if (n <= max) {
    for (int64_t i = 0; i < n; ++i) idx.push_back(i);
  } else {
    for (int k = 0; k < max; ++k) idx.push_back(k * (n - 1) / (max - 1));
  }
  return idx;
}

double loss_of(const Tensor& y, const Tensor& g) {
  const auto yv = y.to_vector(), gv = g.to_vector();
  double s = 0;
  for (size_t i = 0; i < yv.size(); ++i) s += yv[i] * gv[i];
  return s;
}

bool close(double fd, double an, const GradCheckOptions& o) {
  return std::abs(fd - an) <= o.atol + o.rtol * std::max(std::abs(fd), std::abs(an));
}

}  // namespace

double get_flat(const Tensor& t, int64_t flat) {
  return dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T v = static_cast<T*>(t.raw())[offset_of(t, flat)];
    if constexpr (std::is_same_v<T, bf16>)
      return static_cast<double>(static_cast<float>(v));
    else
      return static_cast<double>(v);
  });
}

void set_flat(Tensor& t, int64_t flat, double v) {
  dispatch_dtype(t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (std::is_same_v<T, bf16>)
      static_cast<T*>(t.raw())[offset_of(t, flat)] = bf16(static_cast<float>(v));
    else
      static_cast<T*>(t.raw())[offset_of(t, flat)] = static_cast<T>(v);
  });
}

Tensor randn(const Dims& shape, DType dtype, uint64_t seed, double std) {
  Tensor t = Tensor::empty(shape, dtype);
  fill_normal(t, Philox(seed, 99), 0.0, std, 0);
  return t;
}

int check_gradients(nn::Module& m, const Tensor& x0, nn::Context ctx, const GradCheckOptions& opt,
                    uint64_t seed) {
  EXPECT_EQ(m.dtype(), DType::F64) << "gradient checks run in double";
  Tensor x = x0.clone();
  // Analytic gradients.
  Tensor y = m.forward(x, ctx);
  const Tensor g = randn(y.shape(), DType::F64, seed + 1000);
  std::map<std::string, nn::Param*> params;
  m.for_each_param([&](const std::string& name, nn::Param& p) {
    p.grad.zero();
    params[name] = &p;
  });
  Tensor dx = m.backward(g, ctx);
  if (dx.defined()) dx = dx.clone();  // undefined for integer inputs (embedding ids)
  std::map<std::string, Tensor> dparams;
  for (auto& [name, p] : params) dparams[name] = p->grad.clone();

  int bad = 0;
  auto probe = [&](Tensor& t, const Tensor& analytic, const std::string& what) {
    for (int64_t i : probe_indices(t.numel(), opt.max_per_tensor)) {
      const double orig = get_flat(t, i);
      set_flat(t, i, orig + opt.step);
      const double lp = loss_of(m.forward(x, ctx), g);
      set_flat(t, i, orig - opt.step);
      const double lm = loss_of(m.forward(x, ctx), g);
      set_flat(t, i, orig);
      const double fd = (lp - lm) / (2 * opt.step);
      const double an = get_flat(analytic, i);
      if (!close(fd, an, opt)) {
        if (++bad <= 10)
          ADD_FAILURE() << m.type() << ": d/d" << what << "[" << i << "]: finite difference " << fd
                        << ", backward " << an << " (step " << opt.step << ", rtol " << opt.rtol
                        << ")";
      }
    }
  };
  if (opt.check_input) probe(x, dx, "input");
  for (auto& [name, p] : params) probe(p->value, dparams[name], name);
  m.forward(x, ctx);  // leave the module in a consistent state
  return bad;
}

int check_function_gradient(const std::function<double(const Tensor&)>& f, const Tensor& x0,
                            const Tensor& grad, const GradCheckOptions& opt,
                            const std::string& what) {
  Tensor x = x0.clone();
  int bad = 0;
  for (int64_t i : probe_indices(x.numel(), opt.max_per_tensor)) {
    const double orig = get_flat(x, i);
    set_flat(x, i, orig + opt.step);
    const double lp = f(x);
    set_flat(x, i, orig - opt.step);
    const double lm = f(x);
    set_flat(x, i, orig);
    const double fd = (lp - lm) / (2 * opt.step);
    const double an = get_flat(grad, i);
    if (!close(fd, an, opt) && ++bad <= 10)
      ADD_FAILURE() << "d/d" << what << "[" << i << "]: finite difference " << fd << ", analytic "
                    << an;
  }
  return bad;
}

double normalized_error(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const auto av = a.to_vector(), bv = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < av.size() && i < bv.size(); ++i) {
    num += (av[i] - bv[i]) * (av[i] - bv[i]);
    den += bv[i] * bv[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

void copy_params(nn::Module& src, nn::Module& dst) {
  std::map<std::string, Tensor> values;
  src.for_each_param([&](const std::string& n, nn::Param& p) { values[n] = p.value; });
  src.for_each_buffer([&](const std::string& n, Tensor& t) { values["buffer:" + n] = t; });
  dst.for_each_param([&](const std::string& n, nn::Param& p) {
    ASSERT_TRUE(values.count(n)) << "parameter " << n << " missing in source";
    p.value.copy_from(values[n]);
  });
  dst.for_each_buffer([&](const std::string& n, Tensor& t) {
    ASSERT_TRUE(values.count("buffer:" + n)) << "buffer " << n << " missing in source";
    t.copy_from(values["buffer:" + n]);
  });
}

Tensor channels_last(const Tensor& x) {
  Tensor t = empty_channels_last(x.shape(), x.dtype());
  t.copy_from(x);
  return t;
}

ChannelsLastInput::ChannelsLastInput(std::unique_ptr<nn::Module> m)
    : nn::Module("ChannelsLastInput", m->dtype()), child_(add_child("m", std::move(m))) {}

Tensor ChannelsLastInput::forward(const Tensor& x, nn::Context& ctx) {
  x_ = channels_last(x);
  return child_.forward(x_, ctx);
}

Tensor ChannelsLastInput::backward(const Tensor& dy, nn::Context& ctx) {
  Tensor dx = child_.backward(dy, ctx);
  EXPECT_EQ(dx.strides(), x_.strides()) << "dx must keep the input's layout";
  return dx;
}

}  // namespace win::testing_nn
