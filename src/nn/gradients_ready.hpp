// GradientsReady: backward tells it when a module's parameter gradients are final for the step,
// so that data-parallel training can start averaging them over ranks while backward continues
// with the layers below (DESIGN §10: allreduce in buckets, overlapped with backward). nn/ only
// announces; train::GradientSync listens.
#pragma once

namespace win::nn {

class Module;

class GradientsReady {
 public:
  virtual ~GradientsReady() = default;
  // Every parameter of m (and of its children) has its whole gradient for this step.
  virtual void ready(Module& m) = 0;
};

}  // namespace win::nn
