// SKIP_WITHOUT_GPU(): the first line of a GPU test; where no CUDA device is usable the test
// reports itself skipped with CUDA's reason (never passes silently).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "backend/transfer.hpp"

#define SKIP_WITHOUT_GPU()                                                               \
  do {                                                                                   \
    if (const std::string why = ::win::backend::device_unavailable(::win::Device::CUDA); \
        !why.empty())                                                                    \
      GTEST_SKIP() << why;                                                               \
  } while (0)
