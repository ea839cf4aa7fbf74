// win::h5 files and groups: opening and creating files with clear errors for missing, foreign
// and damaged files, and navigating groups by path. Datasets are in hdf5_dataset.cpp, attributes
// and strings in hdf5_attr.cpp.
#include "data/hdf5.hpp"

#include <system_error>

namespace win::h5 {

namespace {

// File access: sec2 driver, HDF5's default "weak" close (the file closes when its last object
// does). File locking is used where the file system supports it and skipped where it does not
// (Lustre or NFS mounts without flock would otherwise refuse every open with HDF5 >= 1.10).
Handle file_access(const Where& w) {
  Handle fapl(WIN_H5_CHECK(H5Pcreate(H5P_FILE_ACCESS), w, "cannot create a file access list"));
#if H5_VERSION_GE(1, 10, 7)
  WIN_H5_CHECK(H5Pset_file_locking(fapl.get(), 1, 1), w, "cannot set file locking");
#endif
  return fapl;
}

Handle object_open(hid_t loc, const std::string& name, const Where& w) {
  return Handle(WIN_H5_CHECK(H5Oopen(loc, name.c_str(), H5P_DEFAULT), w, "cannot open"));
}

}  // namespace

Handle intermediate_groups(const Where& w) {
  Handle lcpl(WIN_H5_CHECK(H5Pcreate(H5P_LINK_CREATE), w, "cannot create a link list"));
  WIN_H5_CHECK(H5Pset_create_intermediate_group(lcpl.get(), 1), w, "cannot set link creation");
  return lcpl;
}

// ---- File ----

File File::open(const std::filesystem::path& path, Mode mode, ErrorKind kind,
                const std::string& noun) {
  init();
  auto info = std::make_shared<const FileInfo>(FileInfo{path.string(), kind, noun});
  const Where w{info.get(), {}};
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  // status() reports a folder on the way that cannot be searched as an error, not as absent.
  if (ec && ec != std::errc::no_such_file_or_directory) w.fail("cannot read: " + ec.message());
  if (!std::filesystem::exists(st)) w.fail("no such file");
  if (std::filesystem::is_directory(st)) w.fail("is a directory, not an HDF5 file");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) w.fail("cannot read the file", error_stack_detail());
  if (is_hdf5 == 0) w.fail("not an HDF5 file (no HDF5 signature found)");
  Handle fapl = file_access(w);
  const unsigned flags = mode == Mode::ReadWrite ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  Handle id(WIN_H5_CHECK(H5Fopen(path.c_str(), flags, fapl.get()), w,
                         "cannot open (damaged or truncated file?)"));
  return File(std::move(id), std::move(info));
}

File File::create(const std::filesystem::path& path, ErrorKind kind) {
  init();
  auto info = std::make_shared<const FileInfo>(FileInfo{path.string(), kind});
  const Where w{info.get(), {}};
  Handle fapl = file_access(w);
  Handle id(WIN_H5_CHECK(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), w,
                         "cannot create"));
  return File(std::move(id), std::move(info));
}

Group File::root() const {
  WIN_CHECK(is_open(), ErrorKind::Internal, "h5::File::root() on a closed file");
  Handle g(WIN_H5_CHECK(H5Gopen2(id(), "/", H5P_DEFAULT), where(), "cannot open the root group"));
  return Group(std::move(g), info_, "/");
}

void File::flush() {
  WIN_CHECK(is_open(), ErrorKind::Internal, "h5::File::flush() on a closed file");
  WIN_H5_CHECK(H5Fflush(id(), H5F_SCOPE_GLOBAL), where(), "cannot flush");
}

void File::close() {
  if (!is_open()) return;
  // Flush first: with objects still open, H5Fclose only drops this handle, and a write error
  // would otherwise surface (and be ignored) in some object's destructor.
  unsigned intent = 0;
  if (H5Fget_intent(id_.get(), &intent) >= 0 && (intent & H5F_ACC_RDWR)) {
    try {
      flush();
    } catch (...) {
      (void)id_.close();  // this handle goes either way; the flush's error is the one to report
      throw;
    }
  }
  const herr_t status = id_.close();
  if (status < 0) where().fail("cannot close", error_stack_detail());
}

// ---- Object ----

Where Object::where() const {
  return Where{file_.get(), cat(what_, " '", path_, "'")};
}

Where Object::where_attr(const std::string& name) const {
  return Where{file_.get(), cat(what_, " '", path_, "': attribute '", name, "'")};
}

// ---- Group ----

std::string Group::child_path(const std::string& name) const {
  if (!name.empty() && name.front() == '/') return name;
  return path_ == "/" ? "/" + name : path_ + "/" + name;
}

Where Group::where_child(const char* what, const std::string& name) const {
  return Where{file_.get(), cat(what, " '", child_path(name), "'")};
}

bool Group::has(const std::string& name) const {
  if (name.empty()) return false;
  if (name == "/" || name == ".") return true;
  // Walk the path one link at a time: HDF5 1.10's H5Lexists fails (rather than answering false)
  // when an intermediate link is missing.
  size_t pos = name.front() == '/' ? 1 : 0;
  for (;;) {
    const size_t slash = name.find('/', pos);
    const std::string prefix = name.substr(0, slash);
    const htri_t exists = WIN_H5_CHECK(H5Lexists(id(), prefix.c_str(), H5P_DEFAULT),
                                       where_child("link", prefix), "cannot look up");
    if (exists == 0) return false;
    if (slash == std::string::npos || slash + 1 == name.size()) return true;
    Handle obj = object_open(id(), prefix, where_child("object", prefix));
    if (H5Iget_type(obj.get()) != H5I_GROUP) return false;
    pos = slash + 1;
  }
}

bool Group::is_group(const std::string& name) const {
  if (!has(name)) return false;
  Handle obj = object_open(id(), name, where_child("object", name));
  return H5Iget_type(obj.get()) == H5I_GROUP;
}

bool Group::is_dataset(const std::string& name) const {
  if (!has(name)) return false;
  Handle obj = object_open(id(), name, where_child("object", name));
  return H5Iget_type(obj.get()) == H5I_DATASET;
}

std::vector<std::string> Group::list() const {
  H5G_info_t info{};
  WIN_H5_CHECK(H5Gget_info(id(), &info), where(), "cannot list");
  std::vector<std::string> names;
  names.reserve(info.nlinks);
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    const ssize_t n = WIN_H5_CHECK(
        H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT),
        where(), "cannot read the name of link ", i);
    std::string name(static_cast<size_t>(n) + 1, '\0');
    WIN_H5_CHECK(H5Lget_name_by_idx(id(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(),
                                    name.size(), H5P_DEFAULT),
                 where(), "cannot read the name of link ", i);
    name.resize(static_cast<size_t>(n));
    names.push_back(std::move(name));
  }
  return names;
}

Group Group::group(const std::string& name) const {
  if (!has(name)) where_child("group", name).fail("not found");
  if (!is_group(name)) where_child("group", name).fail("is not a group");
  Handle g(WIN_H5_CHECK(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), where_child("group", name),
                        "cannot open"));
  return Group(std::move(g), file_, child_path(name));
}

void Group::check_new(const std::string& name, const char* what) const {
  if (name.empty()) where().fail(cat("cannot create a ", what, " with an empty name"));
  if (has(name)) where_child(what, name).fail("already exists");
}

Group Group::create_group(const std::string& name) {
  check_new(name, "group");
  const Where w = where_child("group", name);
  Handle lcpl = intermediate_groups(w);
  Handle g(WIN_H5_CHECK(H5Gcreate2(id(), name.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT), w,
                        "cannot create"));
  return Group(std::move(g), file_, child_path(name));
}

Group Group::require_group(const std::string& name) {
  return has(name) ? group(name) : create_group(name);
}

Dataset Group::dataset(const std::string& name) const {
  if (!has(name)) where_child("dataset", name).fail("not found");
  if (!is_dataset(name)) where_child("dataset", name).fail("is not a dataset");
  Handle d(WIN_H5_CHECK(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), where_child("dataset", name),
                        "cannot open"));
  return Dataset(std::move(d), file_, child_path(name));
}

void Group::remove(const std::string& name) {
  if (!has(name)) where_child("link", name).fail("not found");
  WIN_H5_CHECK(H5Ldelete(id(), name.c_str(), H5P_DEFAULT), where_child("link", name),
               "cannot remove");
}

}  // namespace win::h5
