// Atomic checkpoint files and the per-stage checkpoint directory (see checkpoint.hpp).
#include "io/checkpoint.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/hdf5.hpp"
#include "io/h5_output.hpp"

namespace win::io {

namespace fs = std::filesystem;

namespace {

constexpr const char* kComplete = "complete";

// fsync a file or directory by path; a failure is an output error.
void sync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? (O_RDONLY | O_DIRECTORY) : O_RDONLY);
  WIN_CHECK(fd >= 0, ErrorKind::Output, "cannot open ", path,
            " to sync it: ", std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  WIN_CHECK(rc == 0, ErrorKind::Output, "fsync of ", path, " failed: ", std::strerror(err));
}

template <class T>
const T& find(const std::map<std::string, T>& m, const std::string& key, const std::string& file,
              const char* what) {
  auto it = m.find(key);
  WIN_CHECK(it != m.end(), ErrorKind::Checkpoint, "checkpoint ", file, ": no ", what, " '", key,
            "'");
  return it->second;
}

}  // namespace

int64_t Checkpoint::get_int(const std::string& key, const std::string& file) const {
  return find(ints, key, file, "integer");
}
double Checkpoint::get_double(const std::string& key, const std::string& file) const {
  return find(doubles, key, file, "number");
}
const std::string& Checkpoint::get_string(const std::string& key, const std::string& file) const {
  return find(strings, key, file, "string");
}
const Tensor& Checkpoint::get_tensor(const std::string& path, const std::string& file) const {
  return find(tensors, path, file, "tensor");
}

void save_checkpoint(const std::string& path, const Checkpoint& c) {
  const std::string tmp = path + ".tmp";
  write_or_remove(tmp, [&] {
    h5::File f = h5::File::create(tmp, ErrorKind::Output);
    h5::Group root = f.root();
    h5::Group meta = root.create_group("meta");
    meta.set_attr("format", kCheckpointFormat);
    meta.set_attr("version", kCheckpointVersion);
    for (const auto& [k, v] : c.ints) meta.set_attr("i:" + k, v);
    for (const auto& [k, v] : c.doubles) meta.set_attr("d:" + k, v);
    for (const auto& [k, v] : c.strings) meta.set_attr("s:" + k, v);
    for (const auto& [p, t] : c.tensors) root.write(p, t, kChecksummed);
    meta.set_attr(kComplete, int64_t{1});  // last: a file without it was cut short
    f.close();
  });
  sync_path(tmp, false);
  std::error_code ec;
  fs::rename(tmp, path, ec);
  WIN_CHECK(!ec, ErrorKind::Output, "cannot rename ", tmp, " to ", path, ": ", ec.message());
  sync_path(fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string(),
            true);
}

Checkpoint load_checkpoint(const std::string& path) {
  const h5::File f = h5::File::open(path, h5::Mode::Read, ErrorKind::Checkpoint);
  const h5::Group root = f.root();
  WIN_CHECK(root.has("meta"), ErrorKind::Checkpoint, "checkpoint ", path,
            ": no /meta group (not a win checkpoint?)");
  const h5::Group meta = root.group("meta");
  WIN_CHECK(meta.has_attr("format") && meta.attr<std::string>("format") == kCheckpointFormat,
            ErrorKind::Checkpoint, "checkpoint ", path, ": not a ", kCheckpointFormat, " file");
  WIN_CHECK(meta.has_attr(kComplete), ErrorKind::Checkpoint, "checkpoint ", path,
            ": incomplete (the run stopped while writing it)");
  const int64_t version = meta.attr<int64_t>("version");
  WIN_CHECK(version == kCheckpointVersion, ErrorKind::Checkpoint, "checkpoint ", path, ": version ",
            version, ", this win reads version ", kCheckpointVersion);
  Checkpoint c;
  for (const auto& name : meta.attr_names()) {
    if (name.size() < 2 || name[1] != ':') continue;
    const std::string key = name.substr(2);
    if (name[0] == 'i') c.ints[key] = meta.attr<int64_t>(name);
    if (name[0] == 'd') c.doubles[key] = meta.attr<double>(name);
    if (name[0] == 's') c.strings[key] = meta.attr<std::string>(name);
  }
  std::function<void(const h5::Group&, const std::string&)> walk = [&](const h5::Group& g,
                                                                       const std::string& prefix) {
    for (const auto& child : g.list()) {
      const std::string p = prefix.empty() ? child : prefix + "/" + child;
      if (p == "meta") continue;
      if (g.is_group(child))
        walk(g.group(child), p);
      else
        c.tensors[p] = g.dataset(child).read();
    }
  };
  walk(root, "");
  return c;
}

CheckpointDir::CheckpointDir(std::string dir, int keep) : dir_(std::move(dir)), keep_(keep) {
  WIN_CHECK(keep_ >= 2, ErrorKind::Config, "checkpoint.keep must be at least 2, got ", keep_);
}

std::vector<std::string> CheckpointDir::files() const {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return out;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("ckpt-", 0) == 0 && name.size() > 8 && name.ends_with(".h5"))
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());  // zero-padded steps: name order is step order
  return out;
}

std::string CheckpointDir::save(int64_t step, const Checkpoint& c) {
  fs::create_directories(dir_);
  char name[32];
  std::snprintf(name, sizeof name, "ckpt-%09lld.h5", static_cast<long long>(step));
  const std::string path = (fs::path(dir_) / name).string();
  save_checkpoint(path, c);
  // Only now, with the new one complete, may old ones go.
  auto all = files();
  while (static_cast<int>(all.size()) > keep_) {
    std::error_code ec;
    fs::remove(all.front(), ec);
    all.erase(all.begin());
  }
  return path;
}

std::optional<Checkpoint> CheckpointDir::load_newest(std::string* path, const Check& check) const {
  const auto all = files();
  if (all.empty()) return std::nullopt;
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    try {
      Checkpoint c = load_checkpoint(*it);
      if (check) check(c, *it);
      if (path) *path = *it;
      return c;
    } catch (const Error& e) {
      log_warn("skipping damaged checkpoint: ", e.what());
    }
  }
  WIN_FAIL(ErrorKind::Checkpoint, "no usable checkpoint in ", dir_, ": all ", all.size(),
           " are damaged (see the warnings above)");
}

}  // namespace win::io
