// `win inspect FILE.h5`: the tree of an HDF5 file that win wrote or reads (shards, checkpoints,
// merged weights): groups, datasets with dtype and shape, and attributes with their values.
// `win inspect --model DECK.toml`: the block table of the student S, the widened teacher B and the
// bridged student S̄, with boundary widths, parameters and MACs per sample.
#include <cmath>
#include <cstdio>

#include "app/commands.hpp"
#include "config/load.hpp"
#include "data/hdf5.hpp"
#include "models/build.hpp"
#include "models/widen.hpp"

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

std::string human(double v) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (std::abs(v) >= 1000.0 && u < 4) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.2f%s", v, units[u]);
  return buf;
}

void row(const std::string& part, const std::string& d, const std::string& wide, double sp,
         double sm, double tp, double tm, double bp, double bm) {
  std::printf("%-18s %6s %6s | %9s %9s | %9s %9s | %9s %9s\n", part.c_str(), d.c_str(),
              wide.c_str(), human(sp).c_str(), human(sm).c_str(), human(tp).c_str(),
              human(tm).c_str(), human(bp).c_str(), human(bm).c_str());
}

// The block table of S, B and S-bar (DESIGN §2): boundary widths, parameters and MACs per sample.
int inspect_model(const std::string& deck_path, const std::vector<std::string>& overrides) {
  const config::Deck deck = load_deck_everywhere(deck_path, overrides);
  const config::ModelConfig& sc = deck.model;
  const config::ModelConfig tc = models::teacher_config(sc, deck.teacher);
  const models::ModelProfile sp = models::profile_model(*models::build_model(sc, DType::F32), sc);
  const models::ModelProfile tp = models::profile_model(*models::build_model(tc, DType::F32), tc);
  const bool tied = deck.narrow.bridge_mode == "tied";
  std::printf("%s: %s student; teacher widened x%lld%s; %s bridges\n", deck_path.c_str(),
              sc.family.c_str(), static_cast<long long>(deck.teacher.widen),
              deck.teacher.widen_outputs ? " (outputs too)" : "", deck.narrow.bridge_mode.c_str());
  std::printf("%-18s %6s %6s | %9s %9s | %9s %9s | %9s %9s\n", "part", "d_i", "D_i", "S params",
              "S MACs", "B params", "B MACs", "S-bar par", "S-bar MAC");
  double bar_params = 0, bar_macs = 0;
  for (size_t i = 0; i < sp.parts.size(); ++i) {
    const auto& a = sp.parts[i];
    const auto& b = tp.parts[i];
    const bool block = i > 0 && i + 1 < sp.parts.size();
    double extra_p = 0, extra_m = 0;
    if (block) {  // the bridge after this block: M1 (and M2 when free), at every position
      const double d = double(a.out_width), wide = double(b.out_width);
      const double rows = double(a.out_elems) / d, maps = tied ? 1 : 2;
      extra_p = d * wide * maps;
      extra_m = rows * d * wide * maps;
    }
    bar_params += double(a.params) + extra_p;
    bar_macs += double(a.macs) + extra_m;
    row(a.name, block ? std::to_string(a.out_width) : "", block ? std::to_string(b.out_width) : "",
        double(a.params), double(a.macs), double(b.params), double(b.macs),
        double(a.params) + extra_p, double(a.macs) + extra_m);
  }
  row("total", "", "", double(sp.params), double(sp.macs), double(tp.params), double(tp.macs),
      bar_params, bar_macs);
  std::string where;
  if (sc.family == "bert")
    where = cat(" at sequence length ", sc.bert.seq_length, ", 15% of positions predicted");
  else if (sc.family == "resnet")
    where = cat(" at ", sc.resnet.image_size, "x", sc.resnet.image_size);
  std::printf("parameters: S %lld, B %lld (tied weights once); MACs per sample%s\n",
              static_cast<long long>(sp.params), static_cast<long long>(tp.params), where.c_str());
  return 0;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

int run_inspect(const Args& args) {
  if (auto deck = args.get("--model")) {
    WIN_CHECK(!ends_with(*deck, ".h5"), ErrorKind::Usage, "win inspect --model takes a deck (",
              "DECK.toml), not ", *deck, ": for an HDF5 file, win inspect ", *deck);
    WIN_CHECK(args.positionals.empty(), ErrorKind::Usage,
              "win inspect: give a FILE.h5 or --model DECK.toml, not both");
    return inspect_model(*deck, args.all("--set"));
  }
  WIN_CHECK(args.all("--set").empty(), ErrorKind::Usage,
            "win inspect: --set applies to --model DECK.toml");
  if (args.positionals.empty())
    WIN_FAIL(ErrorKind::Usage, "win inspect: missing argument: usage: win inspect FILE.h5");
  const std::string path = args.positionals[0];
  WIN_CHECK(!ends_with(path, ".toml"), ErrorKind::Usage, "win inspect ", path,
            ": a deck's model is shown by win inspect --model ", path);
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
       .options = {{"--model", "DECK",
                    "block table of student, teacher and S-bar: widths, parameters, MACs", false},
                   {"--set", "KEY=VALUE", "override a deck key (with --model)", true}},
       .min_positionals = 0,
       .max_positionals = 1},
      run_inspect};
}

}  // namespace win::app
