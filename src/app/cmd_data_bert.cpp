// PENDING: placeholder until the bert converters are written (replaced as a whole).
#include "app/cmd_data.hpp"
#include "core/error.hpp"

namespace win::app {

Command data_bert_command() {
  return {{.name = "data bert",
           .synopsis = "...",
           .summary = "[not built yet]",
           .details = "",
           .options = {},
           .min_positionals = 0,
           .max_positionals = 64,
           .accept_any = true},
          [](const Args&) -> int { WIN_FAIL(ErrorKind::Usage, "win data bert is not built yet"); }};
}

Command data_classify_command() {
  return {
      {.name = "data classify",
       .synopsis = "...",
       .summary = "[not built yet]",
       .details = "",
       .options = {},
       .min_positionals = 0,
       .max_positionals = 64,
       .accept_any = true},
      [](const Args&) -> int { WIN_FAIL(ErrorKind::Usage, "win data classify is not built yet"); }};
}

}  // namespace win::app
