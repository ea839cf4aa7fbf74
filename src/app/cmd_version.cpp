// `win version`: what this binary is and what it runs on, for bug reports and job logs.
#include <toml++/toml.h>
#include <cstdio>

#include "app/commands.hpp"
#include "backend/info.hpp"
#include "core/build_info.hpp"
#include "core/parallel.hpp"
#include "data/hdf5.hpp"
#include "dist/comm.hpp"

namespace win::app {

namespace {

int run_version(const Args&) {
  auto row = [](const char* k, const std::string& v) { std::printf("%-14s %s\n", k, v.c_str()); };
  std::printf("win %s\n", build_version());
  row("git revision", build_git_revision());
  row("build type", build_type());
  std::string backends = cat("cpu (", num_threads(), " threads)");
  if (backend::cuda_compiled())
    backends += cat(", cuda (runtime ", backend::cuda_runtime_version(),
                    "; devices: ", backend::cuda_devices(), ")");
  row("backends", backends);
  row("MPI", dist::mpi_library_version());
  row("HDF5", h5::hdf5_library_version());
  row("oneDNN", backend::dnnl_version());
  row("cuDNN", backend::cudnn_version());
  row("NCCL", backend::nccl_version());
  row("toml++", cat(TOML_LIB_MAJOR, '.', TOML_LIB_MINOR, '.', TOML_LIB_PATCH));
  return 0;
}

}  // namespace

Command version_command() {
  return {{.name = "version",
           .synopsis = "",
           .summary = "print version, git revision, build type, backends and library versions",
           .details = "",
           .options = {},
           .min_positionals = 0,
           .max_positionals = 0},
          run_version};
}

}  // namespace win::app
