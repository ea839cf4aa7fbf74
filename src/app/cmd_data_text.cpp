// PENDING: placeholder until the text converters are written (replaced as a whole).
#include "app/cmd_data.hpp"
#include "core/error.hpp"

namespace win::app {

Command data_vocab_command() {
  return {
      {.name = "data vocab",
       .synopsis = "...",
       .summary = "[not built yet]",
       .details = "",
       .options = {},
       .min_positionals = 0,
       .max_positionals = 64,
       .accept_any = true},
      [](const Args&) -> int { WIN_FAIL(ErrorKind::Usage, "win data vocab is not built yet"); }};
}

Command data_sentences_command() {
  return {{.name = "data sentences",
           .synopsis = "...",
           .summary = "[not built yet]",
           .details = "",
           .options = {},
           .min_positionals = 0,
           .max_positionals = 64,
           .accept_any = true},
          [](const Args&) -> int {
            WIN_FAIL(ErrorKind::Usage, "win data sentences is not built yet");
          }};
}

}  // namespace win::app
