// `win data` dispatch (see cmd_data.hpp).
#include "app/cmd_data.hpp"

#include <cstdio>

#include "core/error.hpp"
#include "dist/comm.hpp"

namespace win::app {

namespace {

std::vector<Command> subcommands() {
  return {data_idx_command(),     data_cifar_command(),     data_images_command(),
          data_vocab_command(),   data_sentences_command(), data_bert_command(),
          data_classify_command()};
}

std::string data_help() {
  std::string s =
      "usage: win data SUB [options]     (win data SUB --help for details)\n\n"
      "convert datasets to HDF5 shards (README: \"Data\"); runs on one rank\n\nsubcommands:\n";
  for (const auto& c : subcommands()) {
    std::string left = "  " + c.spec.name.substr(c.spec.name.find(' ') + 1);
    left.resize(14, ' ');
    s += left + c.spec.summary + "\n";
  }
  return s;
}

int run_data(const Args& args) {
  if (args.positionals.empty()) {
    std::fputs(data_help().c_str(), stderr);
    return 2;
  }
  const std::string sub = args.positionals[0];
  for (const auto& c : subcommands()) {
    if (c.spec.name != "data " + sub) continue;
    Args a = parse_args(
        c.spec, std::vector<std::string>(args.positionals.begin() + 1, args.positionals.end()));
    if (a.help) {
      std::fputs(help_text(c.spec).c_str(), stdout);
      return 0;
    }
    // Every rank would write the same shards at once (HDF5 refuses the second writer's lock and
    // leaves a truncated file): a conversion is one process's work.
    WIN_CHECK(!dist::multi_rank(), ErrorKind::Usage, "win data ", sub,
              " runs on one rank: start it without mpiexec or srun (it converts on one node, "
              "with its threads)");
    return c.run(a);
  }
  WIN_FAIL(ErrorKind::Usage, "win data: unknown subcommand '", sub, "' (see: win data --help)");
}

}  // namespace

Command data_command() {
  return {{.name = "data",
           .synopsis = "idx|cifar|images|vocab|sentences|bert|classify ...",
           .summary = "convert datasets to HDF5 shards (images, BERT pretraining, classification)",
           .details = data_help(),
           .options = {},
           .min_positionals = 0,
           .max_positionals = 1 << 20,
           .accept_any = true},
          run_data};
}

}  // namespace win::app
