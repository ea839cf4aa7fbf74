// win::h5 attributes (int64, double, string, vectors of double and int64) and string datasets.
// Strings are written as variable-length UTF-8, as h5py does, and read back whether variable- or
// fixed-length, so files written by h5py or by other tools work; a missing attribute or one of
// the wrong type is an error naming the file, the object and the attribute.
#include "data/hdf5.hpp"

#include <cstring>

namespace win::h5 {

namespace {

Handle text_type(H5T_cset_t cset, size_t size, const Where& w) {
  Handle t(WIN_H5_CHECK(H5Tcopy(H5T_C_S1), w, "cannot copy the string type"));
  WIN_H5_CHECK(H5Tset_size(t.get(), size), w, "cannot size the string type");
  WIN_H5_CHECK(H5Tset_cset(t.get(), cset), w, "cannot set the character set");
  if (size != H5T_VARIABLE)
    WIN_H5_CHECK(H5Tset_strpad(t.get(), H5T_STR_NULLPAD), w, "cannot set the string padding");
  return t;
}

hssize_t element_count(hid_t space, const Where& w) {
  if (H5Sget_simple_extent_type(space) == H5S_NULL) return 0;
  return WIN_H5_CHECK(H5Sget_simple_extent_npoints(space), w, "cannot count the elements");
}

// Reads one string stored with file type `type` in `space`; read(mem_type, buf) does the HDF5
// read (H5Aread or H5Dread).
template <class ReadFn>
std::string read_text(hid_t type, hid_t space, ReadFn read, const Where& w) {
  if (H5Tget_class(type) != H5T_STRING)
    w.fail(cat("stored as ", describe_type(type), ", not a string"));
  const hssize_t n = element_count(space, w);
  if (n != 1) w.fail(cat("holds ", n, " strings, not one"));
  const H5T_cset_t cset = H5Tget_cset(type);
  if (WIN_H5_CHECK(H5Tis_variable_str(type), w, "cannot read the string type") > 0) {
    Handle mem = text_type(cset, H5T_VARIABLE, w);
    char* p = nullptr;
    WIN_H5_CHECK(read(mem.get(), static_cast<void*>(&p)), w, "cannot read");
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const size_t size = H5Tget_size(type);
  if (size == 0) w.fail("cannot read the string size");
  Handle mem = text_type(cset, size, w);
  std::string s(size, '\0');
  WIN_H5_CHECK(read(mem.get(), static_cast<void*>(s.data())), w, "cannot read");
  s.resize(std::strlen(s.c_str()));
  if (H5Tget_strpad(type) == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
  return s;
}

void check_writable_text(const std::string& text, const Where& w) {
  if (text.find('\0') != std::string::npos)
    w.fail("cannot store a string with a NUL byte (variable-length strings end at NUL)");
}

// Writes an attribute, replacing any of the same name.
void write_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, const void* buf,
                const Where& w) {
  if (WIN_H5_CHECK(H5Aexists(obj, name.c_str()), w, "cannot look up") > 0)
    WIN_H5_CHECK(H5Adelete(obj, name.c_str()), w, "cannot replace");
  Handle a(WIN_H5_CHECK(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), w,
                        "cannot create"));
  WIN_H5_CHECK(H5Awrite(a.get(), type, buf), w, "cannot write");
}

Handle scalar_space(const Where& w) {
  return Handle(WIN_H5_CHECK(H5Screate(H5S_SCALAR), w, "cannot create a dataspace"));
}

Handle vector_space(size_t n, const Where& w) {
  const hsize_t dims[1] = {static_cast<hsize_t>(n)};
  return Handle(WIN_H5_CHECK(H5Screate_simple(1, dims, nullptr), w, "cannot create a dataspace"));
}

// Reads a numeric attribute as T (int64_t or double) through HDF5's conversion; integers are
// accepted for both, floats only for double.
template <class T>
std::vector<T> read_numbers(hid_t obj, const std::string& name, const Where& w) {
  if (WIN_H5_CHECK(H5Aexists(obj, name.c_str()), w, "cannot look up") == 0) w.fail("not found");
  Handle a(WIN_H5_CHECK(H5Aopen(obj, name.c_str(), H5P_DEFAULT), w, "cannot open"));
  Handle type(WIN_H5_CHECK(H5Aget_type(a.get()), w, "cannot read the type"));
  const H5T_class_t cls = H5Tget_class(type.get());
  constexpr bool want_float = std::is_same_v<T, double>;
  if (!(cls == H5T_INTEGER || (want_float && cls == H5T_FLOAT)))
    w.fail(cat("stored as ", describe_type(type.get()), ", not ",
               want_float ? "a number" : "an integer"));
  Handle space(WIN_H5_CHECK(H5Aget_space(a.get()), w, "cannot read the dataspace"));
  std::vector<T> out(static_cast<size_t>(element_count(space.get(), w)));
  if (!out.empty())
    WIN_H5_CHECK(H5Aread(a.get(), want_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, out.data()), w,
                 "cannot read");
  return out;
}

template <class T>
T read_scalar(hid_t obj, const std::string& name, const Where& w) {
  std::vector<T> v = read_numbers<T>(obj, name, w);
  if (v.size() != 1) w.fail(cat("holds ", v.size(), " values, not one"));
  return v[0];
}

herr_t collect_name(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

// ---- attributes ----

void Object::set_attr(const std::string& name, int64_t value) {
  const Where w = where_attr(name);
  write_attr(id(), name, H5T_NATIVE_INT64, scalar_space(w).get(), &value, w);
}

void Object::set_attr(const std::string& name, double value) {
  const Where w = where_attr(name);
  write_attr(id(), name, H5T_NATIVE_DOUBLE, scalar_space(w).get(), &value, w);
}

void Object::set_attr(const std::string& name, const std::string& value) {
  const Where w = where_attr(name);
  check_writable_text(value, w);
  Handle type = text_type(H5T_CSET_UTF8, H5T_VARIABLE, w);
  const char* p = value.c_str();
  write_attr(id(), name, type.get(), scalar_space(w).get(), &p, w);
}

void Object::set_attr(const std::string& name, const std::vector<double>& value) {
  const Where w = where_attr(name);
  const double dummy = 0;  // HDF5 wants a buffer even for zero elements
  write_attr(id(), name, H5T_NATIVE_DOUBLE, vector_space(value.size(), w).get(),
             value.empty() ? &dummy : value.data(), w);
}

void Object::set_attr(const std::string& name, const std::vector<int64_t>& value) {
  const Where w = where_attr(name);
  const int64_t dummy = 0;
  write_attr(id(), name, H5T_NATIVE_INT64, vector_space(value.size(), w).get(),
             value.empty() ? &dummy : value.data(), w);
}

template <>
int64_t Object::attr<int64_t>(const std::string& name) const {
  return read_scalar<int64_t>(id(), name, where_attr(name));
}

template <>
double Object::attr<double>(const std::string& name) const {
  return read_scalar<double>(id(), name, where_attr(name));
}

template <>
std::vector<double> Object::attr<std::vector<double>>(const std::string& name) const {
  return read_numbers<double>(id(), name, where_attr(name));
}

template <>
std::vector<int64_t> Object::attr<std::vector<int64_t>>(const std::string& name) const {
  return read_numbers<int64_t>(id(), name, where_attr(name));
}

template <>
std::string Object::attr<std::string>(const std::string& name) const {
  const Where w = where_attr(name);
  if (!has_attr(name)) w.fail("not found");
  Handle a(WIN_H5_CHECK(H5Aopen(id(), name.c_str(), H5P_DEFAULT), w, "cannot open"));
  Handle type(WIN_H5_CHECK(H5Aget_type(a.get()), w, "cannot read the type"));
  Handle space(WIN_H5_CHECK(H5Aget_space(a.get()), w, "cannot read the dataspace"));
  return read_text(
      type.get(), space.get(), [&](hid_t mem, void* buf) { return H5Aread(a.get(), mem, buf); }, w);
}

bool Object::has_attr(const std::string& name) const {
  return WIN_H5_CHECK(H5Aexists(id(), name.c_str()), where_attr(name), "cannot look up") > 0;
}

std::vector<std::string> Object::attr_names() const {
  std::vector<std::string> names;
  hsize_t idx = 0;
  WIN_H5_CHECK(H5Aiterate2(id(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_name, &names), where(),
               "cannot list attributes");
  return names;
}

// ---- string datasets ----

void Group::write_string(const std::string& name, const std::string& text) {
  check_new(name, "dataset");
  const Where w = where_child("dataset", name);
  check_writable_text(text, w);
  Handle type = text_type(H5T_CSET_UTF8, H5T_VARIABLE, w);
  Handle space = scalar_space(w);
  Handle lcpl = intermediate_groups(w);
  Handle d(WIN_H5_CHECK(
      H5Dcreate2(id(), name.c_str(), type.get(), space.get(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
      w, "cannot create"));
  const char* p = text.c_str();
  WIN_H5_CHECK(H5Dwrite(d.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), w, "cannot write");
}

std::string Group::read_string(const std::string& name) const {
  const Dataset d = dataset(name);
  const Where w = d.where();
  Handle type(WIN_H5_CHECK(H5Dget_type(d.id()), w, "cannot read the type"));
  Handle space(WIN_H5_CHECK(H5Dget_space(d.id()), w, "cannot read the dataspace"));
  return read_text(
      type.get(), space.get(),
      [&](hid_t mem, void* buf) {
        return H5Dread(d.id(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
      },
      w);
}

}  // namespace win::h5
