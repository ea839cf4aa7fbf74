// Module: a layer or a group of layers with an explicit forward and backward (DESIGN §4; no
// autograd tape). forward(x, ctx) saves what backward needs; backward(dy, ctx) accumulates the
// parameter gradients and returns dL/dx. Modules own their forward outputs and reuse them while
// shapes stay the same (a returned output is valid until the module's next forward); backward
// returns a gradient from the device's transient pool, which the caller owns and gives back by
// dropping it. Either way a steady-state training step takes no tensor memory from the system.
//
// Parameters are registered with a name, a kind (for weight-decay rules) and an initialiser;
// ParamStore (param_store.hpp) later moves every parameter of a model into one flat value buffer
// and one flat gradient buffer, and names them with dotted PyTorch-style paths
// ("layer1.0.conv1.weight") from the module tree.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "backend/ops.hpp"
#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "nn/gradients_ready.hpp"
#include "nn/replica_sum.hpp"

namespace win::nn {

// Everything a forward/backward needs besides its input.
struct Context {
  bool training = true;
  uint64_t step = 0;  // global step: with rng, keys dropout masks
  Philox rng{0, 0};   // the dropout stream of the run
  // Multiply-accumulates done by forwards since the caller last zeroed it (matrix products and
  // convolutions), for MFU reports; cheap enough to count always.
  int64_t macs = 0;
  // Global index of the first sample of this rank's batch: random draws keyed by sample (dropout)
  // then do not depend on how the global batch is split over ranks (DESIGN §7).
  int64_t sample_offset = 0;
  // Set when BatchNorm is synchronised over data-parallel replicas (dist.sync_bn): training-mode
  // batch statistics then cover the global batch. Null: each replica normalises its own slice.
  ReplicaSum* replicas = nullptr;
  // Told by models' backward after each stem, block and head; null when nobody listens.
  GradientsReady* grads_ready = nullptr;
  // Data parallel with a loss averaged over a varying number of labelled rows per replica (BERT's
  // masked tokens): this replica's share, W * c_r / C, by which it scales that loss and its
  // gradient so that averaging over replicas gives the mean over all C labelled rows.
  double label_weight = 1.0;
};

// Where modules put their parameters, buffers and outputs: the device of the innermost
// DeviceScope alive on this thread when the module is constructed (CPU when none). A placement
// chosen by the run (run.device), not by the architecture, so builders keep taking only a dtype
// and a whole model lands on one device by building it inside one scope.
Device default_device();
class DeviceScope {
 public:
  explicit DeviceScope(Device device);
  ~DeviceScope();
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  Device previous_;
};

// What weight-decay rules and reports need to know about a parameter.
enum class ParamKind { Weight, Bias, BatchNorm, LayerNorm, Embedding, Bridge };
const char* param_kind_name(ParamKind k);

// How a parameter starts (PyTorch's defaults are expressed with these).
struct Init {
  enum class Kind { Zeros, Ones, Uniform, Normal } kind = Kind::Zeros;
  double a = 0;  // Uniform: bound (values in [-a, a)); Normal: std
  static Init zeros() { return {Kind::Zeros, 0}; }
  static Init ones() { return {Kind::Ones, 0}; }
  static Init uniform(double bound) { return {Kind::Uniform, bound}; }
  static Init normal(double std) { return {Kind::Normal, std}; }
};

struct Param {
  std::string name;  // local name ("weight"); ParamStore knows the full dotted name
  Tensor value;
  Tensor grad;
  ParamKind kind = ParamKind::Weight;
  Init init;
};

class Module {
 public:
  Module(std::string type, DType dtype) : type_(std::move(type)), dtype_(dtype) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  virtual Tensor forward(const Tensor& x, Context& ctx) = 0;
  virtual Tensor backward(const Tensor& dy, Context& ctx) = 0;

  const std::string& type() const { return type_; }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  backend::Ops& ops() const { return backend::ops_for(device_, dtype_); }
  // New tensors of this module go here (its device's allocator).
  Allocator& alloc() const;

  // Depth-first over this module and its children in registration order, with dotted names.
  void for_each_param(const std::function<void(const std::string&, Param&)>& f,
                      const std::string& prefix = "");
  void for_each_buffer(const std::function<void(const std::string&, Tensor&)>& f,
                       const std::string& prefix = "");
  void for_each_module(const std::function<void(const std::string&, Module&)>& f,
                       const std::string& prefix = "");
  const std::vector<std::pair<std::string, Module*>>& children() const { return children_; }
  int64_t num_params();

 protected:
  Param& add_param(std::string name, const Dims& shape, ParamKind kind, Init init);
  // State that is saved and loaded but not trained (BatchNorm running statistics).
  Tensor& add_buffer(std::string name, const Dims& shape, double value);
  // nn::ensure / ensure_channels_last on this module's device: inside a module's members these
  // hide the free functions, so outputs are made where the module computes.
  void ensure(Tensor& t, const Dims& shape, DType dtype, const Tensor* like = nullptr) const;
  void ensure_channels_last(Tensor& t, const Dims& nchw, DType dtype) const;
  // Tensors that live for part of a step (the gradient a backward returns, backward's scratch),
  // from the device's transient pool (core/caching_allocator.hpp): their memory is reused as soon
  // as the caller drops them, so a backward holds the few gradients alive at a time, not one per
  // layer. Locals, never members: a member would hold its block for the whole run.
  Tensor transient(const Dims& shape, DType dtype) const;  // contiguous
  Tensor transient_like(const Tensor& like) const;         // like's shape, dtype and memory order
  Tensor transient_channels_last(const Dims& nchw, DType dtype) const;
  Tensor transient_contiguous(const Tensor& t) const;  // t itself when already contiguous
  // An element-wise layer's dx for dy: this layer's dtype in dy's layout (dy's dtype too when dy
  // is strided and of another dtype, as nn::ensure would make it).
  Tensor transient_grad_for(const Tensor& dy) const;
  // A child named "" is transparent: its parameters are named as if they were this module's
  // (so a ResNet's stem can be one module while its weights keep torchvision's names).
  template <class M>
  M& add_child(std::string name, std::unique_ptr<M> child) {
    M& ref = *child;
    children_.emplace_back(std::move(name), child.get());
    owned_.push_back(std::move(child));
    return ref;
  }

 private:
  static std::string child_prefix(const std::string& prefix, const std::string& name);
  std::string type_;
  DType dtype_;
  Device device_ = default_device();
  mutable Allocator* alloc_ = nullptr;  // device_'s, looked up once
  Allocator& transient_alloc() const;
  mutable Allocator* transient_ = nullptr;
  std::deque<Param> params_;  // deque: Param& handed to layers stays valid
  std::deque<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<std::unique_ptr<Module>> owned_;
};

// Makes t a tensor of this shape and dtype, reusing its memory when it already is one; when it
// must allocate, the new tensor follows like's layout (or is contiguous without like), from
// alloc, else on like's device, else on the CPU.
void ensure(Tensor& t, const Dims& shape, DType dtype, const Tensor* like = nullptr,
            Allocator* alloc = nullptr);
void ensure_channels_last(Tensor& t, const Dims& nchw, DType dtype, Allocator* alloc = nullptr);

// Initialises every parameter from its Init, with draws keyed by (seed, the parameter's dotted
// name): the same name gets the same values whatever else the model contains.
void init_params(Module& m, uint64_t seed);

}  // namespace win::nn
