// Reading and writing model weights (see model_io.hpp).
#include "io/model_io.hpp"

#include <cstdio>
#include <filesystem>
#include <set>

#include "backend/transfer.hpp"
#include "core/error.hpp"
#include "io/h5_output.hpp"

namespace win::io {

void write_model(h5::Group& root, nn::Module& m) {
  h5::Group g = root.require_group("model");
  // Device tensors are written from a host copy; each with its checksum (kChecksummed).
  auto host = [](const Tensor& t) { return backend::to_device(t, Device::CPU); };
  m.for_each_param(
      [&](const std::string& name, nn::Param& p) { g.write(name, host(p.value), kChecksummed); });
  m.for_each_buffer(
      [&](const std::string& name, Tensor& t) { g.write(name, host(t), kChecksummed); });
}

namespace {
bool under(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes)
    if (name.rfind(p, 0) == 0) return true;
  return false;
}
}  // namespace

void read_model(const h5::Group& root, nn::Module& m, const PartialLoad& partial) {
  const std::string file = root.file_path();
  WIN_CHECK(root.has("model"), ErrorKind::Checkpoint, "weights file ", file,
            ": no /model group (not a win weights file?)");
  const h5::Group g = root.group("model");
  std::set<std::string> used;
  auto load = [&](const std::string& name, Tensor& t) {
    if (under(name, partial.keep)) return;
    WIN_CHECK(g.is_dataset(name), ErrorKind::Checkpoint, "weights file ", file, ": tensor '", name,
              "' is missing (the file was written for a different model?)");
    const h5::Dataset d = g.dataset(name);
    WIN_CHECK(d.shape() == t.shape(), ErrorKind::Checkpoint, "weights file ", file, ": tensor '",
              name, "' has shape ", d.shape(), ", the model expects ", t.shape());
    backend::copy_across(d.read(), t);  // onto the model's device
    used.insert(name);
  };
  m.for_each_param([&](const std::string& name, nn::Param& p) { load(name, p.value); });
  m.for_each_buffer([&](const std::string& name, Tensor& t) { load(name, t); });
  // Every dataset of the file must have been used: a leftover means a different architecture.
  std::function<void(const h5::Group&, const std::string&)> walk = [&](const h5::Group& grp,
                                                                       const std::string& prefix) {
    for (const auto& child : grp.list()) {
      const std::string name = prefix.empty() ? child : prefix + "/" + child;
      if (grp.is_group(child)) {
        walk(grp.group(child), name);
      } else {
        const bool bridge = name.rfind("bridges/", 0) == 0 || name.rfind("bridges.", 0) == 0;
        WIN_CHECK(used.count(name) || under(name, partial.unused), ErrorKind::Checkpoint,
                  "weights file ", file, ": tensor '", name, "' is not a tensor of this model",
                  bridge ? " (the file holds S-bar with its bridges, the narrow or finetune "
                           "stage's output before the merge: the plain student is "
                           "merge/final.h5)"
                         : " (the file was written for a different model?)");
      }
    }
  };
  walk(g, "");
}

void save_weights(const std::string& path, nn::Module& m, const std::string& kind,
                  const std::map<std::string, std::string>& meta) {
  const std::string tmp = path + ".tmp";
  write_or_remove(tmp, [&] {
    h5::File f = h5::File::create(tmp, ErrorKind::Output);
    h5::Group root = f.root();
    h5::Group info = root.create_group("meta");
    info.set_attr("format", kWeightsFormat);
    info.set_attr("version", kWeightsVersion);
    info.set_attr("kind", kind);
    for (const auto& [k, v] : meta) info.set_attr(k, v);
    write_model(root, m);
    f.close();
  });
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  WIN_CHECK(!ec, ErrorKind::Output, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

void load_weights(const std::string& path, nn::Module& m, const PartialLoad& partial) {
  std::error_code ec;
  WIN_CHECK(std::filesystem::is_regular_file(path, ec), ErrorKind::Checkpoint, "weights file ",
            path, ": no such file");
  const h5::File f = h5::File::open(path, h5::Mode::Read, ErrorKind::Checkpoint, "weights");
  const h5::Group root = f.root();
  if (root.has("meta")) {
    const h5::Group info = root.group("meta");
    WIN_CHECK(!info.has_attr("format") || info.attr<std::string>("format") == kWeightsFormat ||
                  info.attr<std::string>("format") == "win-checkpoint",
              ErrorKind::Checkpoint, "weights file ", path, ": format '",
              info.attr<std::string>("format"), "' is not ", kWeightsFormat);
  }
  read_model(root, m, partial);
}

}  // namespace win::io
