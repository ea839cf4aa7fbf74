// HDF5 plumbing under the wrapper in data/hdf5.hpp: library start-up, an RAII owner for HDF5
// identifiers (hid_t), and WIN_H5_CHECK, which turns every failed HDF5 call into a win::Error
// naming the file and the object, of the file's ErrorKind (data shard: exit 3, checkpoint: exit
// 4), with HDF5's own innermost error description appended. HDF5's habit of printing its error
// stack to stderr is switched off; errors reach the user once, through win::Error (DESIGN §8).
// Kept separate so that code calling the HDF5 C API directly (tests, special writers) can use the
// same checks.
#pragma once

#include <hdf5.h>

#include <source_location>
#include <string>
#include <utility>

#include "core/dtype.hpp"
#include "core/error.hpp"

namespace win::h5 {

// Initialises HDF5 once per process (thread-safe, std::call_once) and silences its automatic
// error printing. HDF5 keeps one error stack per thread in thread-safe builds (Debian's is one),
// so the silencing is also applied once per calling thread; Handle::get() calls init(), so a
// prefetch thread using a dataset opened elsewhere is covered too. Cheap after the first call.
void init();

// "1.10.8": the version of the HDF5 library in use (for `win version`).
std::string hdf5_library_version();

// The file an object belongs to, and the kind of error raised for anything in it.
struct FileInfo {
  std::string path;
  ErrorKind kind = ErrorKind::Data;
  std::string noun = {};  // what messages call the file ("weights"); empty: the kind's name
};

// Where a failure happened. Messages read
//   "<kind> file <path>: <object>: <what>[: <HDF5's innermost error description>]"
// e.g. "data file runs/x.h5: dataset '/images': rows [8, 10) out of range: the dataset has 8 rows".
struct Where {
  const FileInfo* file = nullptr;
  std::string object;  // "dataset '/images'"; empty for the file itself

  [[noreturn]] void fail(const std::string& what,
                         std::source_location loc = std::source_location::current()) const;
  // As fail(), appending detail (HDF5's description) when it is not empty.
  [[noreturn]] void fail(const std::string& what, const std::string& detail,
                         std::source_location loc = std::source_location::current()) const;
};

// HDF5's description of the innermost (first detected) error on this thread's error stack, found
// with H5Ewalk2, e.g. "truncated file: eof = 1024, sblock->base_addr = 0, stored_eof = 4096".
// Clears the stack. Empty when there is no error.
std::string error_stack_detail();

// Owns one HDF5 identifier of any type (file, group, dataset, dataspace, datatype, attribute,
// property list) and closes it with the matching H5?close. Move-only; never throws on close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // The identifier, for HDF5 calls; makes sure this thread's error printing is silenced first.
  hid_t get() const {
    init();
    return id_;
  }
  bool valid() const { return id_ >= 0; }
  // Closes now and returns HDF5's status (negative: failure), for closes that must be checked.
  herr_t close() noexcept;
  // Closes now, ignoring failures (destructors).
  void reset() noexcept { (void)close(); }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// A link creation list that creates missing intermediate groups ("a/b/c").
Handle intermediate_groups(const Where& w);

// ---- types ----
// The HDF5 type of a win dtype, used both in memory and in files: the native types for f32, f64,
// i32, i8 and u8; for bf16 a 16-bit float type with bf16's bit layout (see hdf5.hpp).
Handle type_of(DType dtype);
// The win dtype of a stored HDF5 type; false when it is not one of win's dtypes.
bool to_dtype(hid_t type, DType* out);
// "64-bit signed integer", "16-bit float (IEEE half, not bf16)", "string": for messages.
std::string describe_type(hid_t type);

}  // namespace win::h5

// WIN_H5_CHECK(call, where, parts...): evaluates the HDF5 call and returns its value; a negative
// value (HDF5's failure convention for herr_t, hid_t, htri_t, hssize_t) throws a win::Error from
// `where` (a win::h5::Where, evaluated only on failure) with the streamed parts and HDF5's
// innermost error description. Always on, never compiled out.
#define WIN_H5_CHECK(call, where, ...)                                                        \
  ([&]() {                                                                                    \
    const auto win_h5_result_ = (call);                                                       \
    if (win_h5_result_ < 0) [[unlikely]] {                                                    \
      const std::string win_h5_detail_ = ::win::h5::error_stack_detail();                     \
      (where).fail(::win::cat(__VA_ARGS__), win_h5_detail_, std::source_location::current()); \
    }                                                                                         \
    return win_h5_result_;                                                                    \
  }())
