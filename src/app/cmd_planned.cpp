// Subcommands whose implementation belongs to later work. They are listed and documented so the
// interface is visible, and they refuse to run (exit 2) instead of pretending.
#include "app/commands.hpp"
#include "core/error.hpp"

namespace win::app {

namespace {

struct Planned {
  const char* name;
  const char* synopsis;
  const char* summary;
  const char* details;
  const char* where;
};

constexpr Planned kPlanned[] = {
    {"eval", "RUN_DIR|WEIGHTS.h5 --deck DECK.toml",
     "evaluate trained or merged weights on the deck's test data",
     "Top-1/top-5 accuracy for images; MLM/NSP accuracy and downstream accuracy for BERT.",
     "the pipeline (evaluation) work"},
    {"merge", "CHECKPOINT.h5 -o MERGED.h5 --deck DECK.toml",
     "fold the bridges of a narrow/fine-tuned student into a plain thin model",
     "Writes merged weights and reports max|merged - unmerged| on a held-out batch.",
     "the pipeline (stage drivers) work"},
};

template <int N>
int not_built(const Args&) {
  WIN_FAIL(ErrorKind::Usage, "win ", kPlanned[N].name, " is not built yet (it arrives with ",
           kPlanned[N].where, "); nothing was done");
}

template <int N>
Command planned() {
  const Planned& p = kPlanned[N];
  return {{.name = p.name,
           .synopsis = p.synopsis,
           .summary = std::string(p.summary) + " [not built yet]",
           .details = std::string(p.details) + "\n\nNot built yet: running it exits with code 2.",
           .options = {},
           .min_positionals = 0,
           .max_positionals = 64,
           .accept_any = true},
          not_built<N>};
}

}  // namespace

std::vector<Command> planned_commands() {
  return {planned<0>(), planned<1>()};
}

}  // namespace win::app
