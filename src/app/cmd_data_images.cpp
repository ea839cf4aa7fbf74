// PENDING: placeholder until the images converters are written (replaced as a whole).
#include "app/cmd_data.hpp"
#include "core/error.hpp"

namespace win::app {

Command data_idx_command() {
  return {{.name = "data idx",
           .synopsis = "...",
           .summary = "[not built yet]",
           .details = "",
           .options = {},
           .min_positionals = 0,
           .max_positionals = 64,
           .accept_any = true},
          [](const Args&) -> int { WIN_FAIL(ErrorKind::Usage, "win data idx is not built yet"); }};
}

Command data_cifar_command() {
  return {
      {.name = "data cifar",
       .synopsis = "...",
       .summary = "[not built yet]",
       .details = "",
       .options = {},
       .min_positionals = 0,
       .max_positionals = 64,
       .accept_any = true},
      [](const Args&) -> int { WIN_FAIL(ErrorKind::Usage, "win data cifar is not built yet"); }};
}

Command data_images_command() {
  return {
      {.name = "data images",
       .synopsis = "...",
       .summary = "[not built yet]",
       .details = "",
       .options = {},
       .min_positionals = 0,
       .max_positionals = 64,
       .accept_any = true},
      [](const Args&) -> int { WIN_FAIL(ErrorKind::Usage, "win data images is not built yet"); }};
}

}  // namespace win::app
