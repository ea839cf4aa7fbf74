// HDF5 start-up, error-stack reading and identifier closing for the HDF5 wrapper (see
// hdf5_handle.hpp): the one place that talks to HDF5's error machinery, so that every failure in
// the wrapper is reported the same way, with HDF5's own reason and without stderr noise.
#include "data/hdf5_handle.hpp"

#include <mutex>

namespace win::h5 {

void init() {
  static std::once_flag once;
  // No teardown at exit: after a failed write (a full disk, a quota) HDF5 keeps the file open
  // inside the library, and its atexit teardown then retries the flush and crashes (SIGSEGV in
  // H5F__close_cb), turning a clean "exit 7, no space left" into a core dump. win closes every
  // file it opens through RAII before exit; the operating system reclaims the rest.
  std::call_once(once, [] {
    (void)H5dont_atexit();
    (void)H5open();
  });
  // Per thread: in thread-safe HDF5 builds every thread has its own default error stack, whose
  // automatic printing is on until switched off on that thread.
  thread_local bool silenced = false;
  if (!silenced) {
    (void)H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    silenced = true;
  }
}

std::string hdf5_library_version() {
  unsigned major = 0, minor = 0, release = 0;
  if (H5get_libversion(&major, &minor, &release) < 0) return "unknown";
  return cat(major, '.', minor, '.', release);
}

void Where::fail(const std::string& what, std::source_location loc) const {
  fail(what, std::string(), loc);
}

void Where::fail(const std::string& what, const std::string& detail,
                 std::source_location loc) const {
  const ErrorKind kind = file ? file->kind : ErrorKind::Data;
  std::string msg = cat(file && !file->noun.empty() ? file->noun : std::string(kind_name(kind)),
                        " file ", file ? file->path : std::string("?"), ": ");
  if (!object.empty()) msg += cat(object, ": ");
  msg += what;
  if (!detail.empty()) msg += cat(": ", detail);
  throw Error(kind, msg, loc);
}

namespace {

struct Innermost {
  std::string desc;
  std::string func;
};

herr_t take_innermost(unsigned n, const H5E_error2_t* err, void* data) {
  // Walking upward, entry 0 is the most specific error: where HDF5 first detected the problem.
  if (n == 0 && err) {
    auto* out = static_cast<Innermost*>(data);
    out->desc = err->desc ? err->desc : "";
    out->func = err->func_name ? err->func_name : "";
  }
  return 0;
}

}  // namespace

std::string error_stack_detail() {
  init();
  // Take a copy of this thread's stack (which clears it) and walk the copy, so nothing we call
  // while reading it can disturb it.
  const hid_t stack = H5Eget_current_stack();
  if (stack < 0) return {};
  Innermost inner;
  (void)H5Ewalk2(stack, H5E_WALK_UPWARD, take_innermost, &inner);
  (void)H5Eclose_stack(stack);
  if (inner.desc.empty() && !inner.func.empty()) return cat("failed in ", inner.func);
  return inner.desc;
}

herr_t Handle::close() noexcept {
  if (id_ < 0) return 0;
  init();
  const hid_t id = std::exchange(id_, H5I_INVALID_HID);
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      return H5Fclose(id);
    case H5I_GROUP:
      return H5Gclose(id);
    case H5I_DATASET:
      return H5Dclose(id);
    case H5I_DATASPACE:
      return H5Sclose(id);
    case H5I_DATATYPE:
      return H5Tclose(id);
    case H5I_ATTR:
      return H5Aclose(id);
    case H5I_GENPROP_LST:
      return H5Pclose(id);
    case H5I_ERROR_STACK:
      return H5Eclose_stack(id);
    default:
      return H5Idec_ref(id) < 0 ? -1 : 0;
  }
}

// ---- types ----

namespace {

// HDF5 calls on predefined types cannot fail short of a broken library: report as a bug.
void check_type_call(herr_t status, const char* call) {
  if (status < 0) {
    const std::string detail = error_stack_detail();
    WIN_FAIL(ErrorKind::Internal, "HDF5 type setup failed: ", call, ": ", detail);
  }
}

Handle copy_type(hid_t predefined) {
  const hid_t t = H5Tcopy(predefined);
  check_type_call(t < 0 ? -1 : 0, "H5Tcopy");
  return Handle(t);
}

// bf16 = the top half of an IEEE float: sign at bit 15, 8 exponent bits from bit 7 (bias 127),
// 7 mantissa bits from bit 0.
constexpr size_t kBf16Sign = 15, kBf16ExpPos = 7, kBf16ExpSize = 8, kBf16MantPos = 0,
                 kBf16MantSize = 7, kBf16Bias = 127;

Handle bf16_type() {
  Handle t = copy_type(H5T_NATIVE_FLOAT);
  check_type_call(
      H5Tset_fields(t.get(), kBf16Sign, kBf16ExpPos, kBf16ExpSize, kBf16MantPos, kBf16MantSize),
      "H5Tset_fields");
  check_type_call(H5Tset_precision(t.get(), 16), "H5Tset_precision");
  check_type_call(H5Tset_size(t.get(), 2), "H5Tset_size");
  check_type_call(H5Tset_ebias(t.get(), kBf16Bias), "H5Tset_ebias");
  return t;
}

bool is_bf16(hid_t type) {
  if (H5Tget_class(type) != H5T_FLOAT || H5Tget_size(type) != 2) return false;
  size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
  if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0) return false;
  return spos == kBf16Sign && epos == kBf16ExpPos && esize == kBf16ExpSize &&
         mpos == kBf16MantPos && msize == kBf16MantSize && H5Tget_ebias(type) == kBf16Bias;
}

}  // namespace

Handle type_of(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return copy_type(H5T_NATIVE_FLOAT);
    case DType::F64:
      return copy_type(H5T_NATIVE_DOUBLE);
    case DType::BF16:
      return bf16_type();
    case DType::I32:
      return copy_type(H5T_NATIVE_INT32);
    case DType::I8:
      return copy_type(H5T_NATIVE_INT8);
    case DType::U8:
      return copy_type(H5T_NATIVE_UINT8);
  }
  WIN_FAIL(ErrorKind::Internal, "type_of: unknown dtype ", static_cast<int>(dtype));
}

bool to_dtype(hid_t type, DType* out) {
  const size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT:
      if (size == 4)
        *out = DType::F32;
      else if (size == 8)
        *out = DType::F64;
      else if (is_bf16(type))
        *out = DType::BF16;
      else
        return false;
      return true;
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
      if (size == 4 && is_signed)
        *out = DType::I32;
      else if (size == 1 && is_signed)
        *out = DType::I8;
      else if (size == 1 && !is_signed)
        *out = DType::U8;
      else
        return false;
      return true;
    }
    default:
      return false;
  }
}

std::string describe_type(hid_t type) {
  const size_t bits = H5Tget_size(type) * 8;
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return cat(bits, "-bit ", H5Tget_sign(type) == H5T_SGN_2 ? "signed" : "unsigned", " integer");
    case H5T_FLOAT:
      if (bits == 16 && !is_bf16(type)) return "16-bit float (IEEE half, not bf16)";
      return is_bf16(type) ? std::string("bf16 float") : cat(bits, "-bit float");
    case H5T_STRING:
      return "string";
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_REFERENCE:
      return "reference";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_TIME:
      return "time";
    default:
      return "unknown type";
  }
}

}  // namespace win::h5
