// `win inspect FILE.h5`: the tree of an HDF5 file that win wrote or reads (shards, checkpoints,
// merged weights): groups, datasets with dtype and shape, and attributes with their values.
// `--model DECK` (architecture, parameter and MAC counts) arrives with the model builders.
#include <cstdio>

#include "app/commands.hpp"
#include "data/hdf5.hpp"

namespace win::app {

namespace {

std::string attr_value(const h5::Object& o, const std::string& name) {
  // The stored type decides which read succeeds; try the narrow ones first.
  try {
    return std::to_string(o.attr<int64_t>(name));
  } catch (const Error&) {
  }
  try {
    return cat(o.attr<double>(name));
  } catch (const Error&) {
  }
  try {
    std::string s = o.attr<std::string>(name);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return "\"" + s + "\"";
  } catch (const Error&) {
  }
  try {
    auto v = o.attr<std::vector<int64_t>>(name);
    return list_str(v);
  } catch (const Error&) {
  }
  try {
    auto v = o.attr<std::vector<double>>(name);
    return list_str(v);
  } catch (const Error&) {
  }
  return "(unreadable type)";
}

void print_attrs(const h5::Object& o, int depth) {
  for (const auto& a : o.attr_names())
    std::printf("%*s@%s = %s\n", 2 * depth + 2, "", a.c_str(), attr_value(o, a).c_str());
}

void walk(const h5::Group& g, int depth) {
  for (const auto& name : g.list()) {
    if (g.is_group(name)) {
      std::printf("%*s%s/\n", 2 * depth, "", name.c_str());
      const h5::Group sub = g.group(name);
      print_attrs(sub, depth);
      walk(sub, depth + 1);
    } else if (g.is_dataset(name)) {
      const h5::Dataset d = g.dataset(name);
      std::string type;
      try {
        type = std::string(dtype_name(d.dtype()));
      } catch (const Error&) {
        type = "(foreign type)";
      }
      std::printf("%*s%-*s %s %s\n", 2 * depth, "", std::max(1, 28 - 2 * depth), name.c_str(),
                  type.c_str(), cat(d.shape()).c_str());
      print_attrs(d, depth);
    } else {
      std::printf("%*s%s (link)\n", 2 * depth, "", name.c_str());
    }
  }
}

int run_inspect(const Args& args) {
  if (args.has("--model"))
    WIN_FAIL(ErrorKind::Usage,
             "win inspect --model is not built yet (it arrives with the model "
             "builders); nothing was done");
  if (args.positionals.empty())
    WIN_FAIL(ErrorKind::Usage, "win inspect: missing argument: usage: win inspect FILE.h5");
  const std::string path = args.positionals[0];
  const h5::File f = h5::File::open(path, h5::Mode::Read, ErrorKind::Data);
  std::printf("%s\n", path.c_str());
  const h5::Group root = f.root();
  print_attrs(root, 0);
  walk(root, 1);
  return 0;
}

}  // namespace

Command inspect_command() {
  return {
      {.name = "inspect",
       .synopsis = "FILE.h5 | --model DECK.toml",
       .summary = "show an HDF5 file's groups, datasets and attributes (or a deck's model)",
       .details = "",
       .options = {{"--model", "DECK", "architecture, parameters and MACs [not built yet]", false}},
       .min_positionals = 0,
       .max_positionals = 1},
      run_inspect};
}

}  // namespace win::app
