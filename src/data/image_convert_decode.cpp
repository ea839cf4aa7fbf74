// JPEG and PNG decoding (libjpeg-turbo, libpng) and the resize / center-crop of the image-folder
// converter (image_convert.hpp).
//
// Both libraries report fatal errors through a callback that must not return; the C way out is
// longjmp. A C++ exception thrown through their C frames is not safe, so each decoder keeps its
// libjpeg/libpng state in a caller-owned struct, calls setjmp in a function holding no objects
// with destructors, returns false with the library's message on failure, and the caller turns
// that into a win::Error naming the file. Nothing reaches stderr behind win's back: libjpeg's
// warnings are collected and logged once per file as a win warning (except those that mean missing
// image data, which libjpeg would paper over with gray: those are errors); libpng's warnings
// (mostly about ancillary chunks such as color profiles) are dropped.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>

// jpeglib.h needs size_t and FILE declared first.
#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "core/log.hpp"
#include "data/image_convert.hpp"

namespace win::data {

namespace {

// Images above this many pixels are refused before any pixel memory is taken (a corrupt or
// hostile header could otherwise ask for gigabytes): 2^28 is 16384 x 16384.
constexpr int64_t kMaxPixels = int64_t{1} << 28;

// BT.601 luma in 16-bit fixed point, as libjpeg computes Y; the weights sum to 65536, so a gray
// pixel (r = g = b) maps to itself.
inline uint8_t luma(uint32_t r, uint32_t g, uint32_t b) {
  return static_cast<uint8_t>((19595 * r + 38470 * g + 7471 * b + 32768) >> 16);
}

// (H, W, 3) -> (H, W, 1) with luma, or (H, W, 1) -> (H, W, 3) by replication.
void convert_channels(Image& img, int channels) {
  if (img.channels == channels) return;
  const auto n = static_cast<size_t>(img.height * img.width);
  std::vector<uint8_t> out(n * static_cast<size_t>(channels));
  const uint8_t* p = img.pixels.data();
  if (channels == 1) {
    for (size_t i = 0; i < n; ++i) out[i] = luma(p[3 * i], p[3 * i + 1], p[3 * i + 2]);
  } else {
    for (size_t i = 0; i < n; ++i) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = p[i];
  }
  img.pixels = std::move(out);
  img.channels = channels;
}

// ---- JPEG ----

struct JpegError {
  jpeg_error_mgr pub;  // first: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  char warning[JMSG_LENGTH_MAX];
  int warnings;
};

// Owned by the caller of jpeg_decode, outside the setjmp frame. Destroying a zeroed or already
// destroyed decompressor is a no-op, so the destructor cleans up on every path (even bad_alloc).
struct JpegState {
  jpeg_decompress_struct cinfo;
  JpegError err;
  std::vector<uint8_t> row;  // CMYK scanline
  JpegState() { std::memset(&cinfo, 0, sizeof cinfo); }
  ~JpegState() { jpeg_destroy_decompress(&cinfo); }
  JpegState(const JpegState&) = delete;
  JpegState& operator=(const JpegState&) = delete;
};

void jpeg_fail(j_common_ptr c) {
  auto* e = reinterpret_cast<JpegError*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}

void jpeg_emit(j_common_ptr c, int level) {
  if (level >= 0) return;  // trace messages
  // Missing image data: libjpeg would fill the rest of the image with gray and go on.
  if (c->err->msg_code == JWRN_JPEG_EOF || c->err->msg_code == JWRN_HIT_MARKER) jpeg_fail(c);
  auto* e = reinterpret_cast<JpegError*>(c->err);
  if (e->warnings++ == 0) (*c->err->format_message)(c, e->warning);
}

void jpeg_silent(j_common_ptr) {}

// Decodes into out (channels 1 or 3); false with st.err.message on failure.
bool jpeg_decode(JpegState& st, const uint8_t* data, size_t size, int channels, int64_t min_shorter,
                 Image& out) {
  st.cinfo.err = jpeg_std_error(&st.err.pub);
  st.err.pub.error_exit = jpeg_fail;
  st.err.pub.emit_message = jpeg_emit;
  st.err.pub.output_message = jpeg_silent;
  st.err.warnings = 0;
  st.err.message[0] = st.err.warning[0] = 0;
  if (setjmp(st.err.jump)) return false;
  jpeg_create_decompress(&st.cinfo);
  jpeg_mem_src(&st.cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&st.cinfo, TRUE);
  jpeg_decompress_struct& ci = st.cinfo;
  const bool cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
  const char* refusal = nullptr;
  if (ci.jpeg_color_space == JCS_GRAYSCALE || (channels == 1 && !cmyk))
    ci.out_color_space = JCS_GRAYSCALE;  // libjpeg takes Y (BT.601 luma) of YCbCr or RGB
  else if (ci.jpeg_color_space == JCS_YCbCr || ci.jpeg_color_space == JCS_RGB)
    ci.out_color_space = JCS_RGB;
  else if (cmyk)
    ci.out_color_space = JCS_CMYK;  // libjpeg turns YCCK into CMYK; we turn CMYK into RGB
  else
    refusal = "unsupported JPEG color space (neither gray, YCbCr, RGB nor CMYK/YCCK)";
  if (!refusal && static_cast<int64_t>(ci.image_width) * ci.image_height > kMaxPixels)
    refusal = "image too large (more than 2^28 pixels)";
  if (refusal) {
    std::snprintf(st.err.message, sizeof st.err.message, "%s", refusal);
    return false;
  }
  const int64_t shorter = std::min(ci.image_width, ci.image_height);
  for (unsigned d : {8u, 4u, 2u})
    if (min_shorter > 0 && (shorter + d - 1) / d >= min_shorter) {
      ci.scale_num = 1;
      ci.scale_denom = d;
      break;
    }
  jpeg_start_decompress(&ci);
  out.width = ci.output_width;
  out.height = ci.output_height;
  out.channels = cmyk ? 3 : ci.output_components;
  const auto row_bytes = static_cast<size_t>(out.width * out.channels);
  out.pixels.resize(row_bytes * static_cast<size_t>(out.height));
  st.row.resize(static_cast<size_t>(out.width) * 4);
  // Photoshop writes Adobe-marked CMYK JPEGs inverted (0 = full ink); others use 255 = full ink.
  const bool inverted = ci.saw_Adobe_marker;
  while (ci.output_scanline < ci.output_height) {
    uint8_t* dst = out.pixels.data() + row_bytes * ci.output_scanline;
    JSAMPROW row = cmyk ? st.row.data() : dst;
    jpeg_read_scanlines(&ci, &row, 1);
    if (!cmyk) continue;
    for (int64_t x = 0; x < out.width; ++x) {
      const uint8_t* p = st.row.data() + 4 * x;
      const uint32_t k = inverted ? p[3] : 255u - p[3];
      for (int c = 0; c < 3; ++c) {
        const uint32_t v = inverted ? p[c] : 255u - p[c];
        dst[3 * x + c] = static_cast<uint8_t>((v * k + 127) / 255);
      }
    }
  }
  jpeg_finish_decompress(&ci);
  return true;
}

// ---- PNG ----

struct PngState {
  png_structp png = nullptr;
  png_infop info = nullptr;
  const uint8_t* data = nullptr;
  size_t size = 0, pos = 0;
  char message[256] = {};
  std::vector<png_bytep> rows;
  PngState() = default;
  PngState(const PngState&) = delete;
  PngState& operator=(const PngState&) = delete;
  ~PngState() { png_destroy_read_struct(&png, info ? &info : nullptr, nullptr); }
};

void png_fail(png_structp png, png_const_charp msg) {
  auto* st = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(st->message, sizeof st->message, "%s", msg);
  png_longjmp(png, 1);
}

void png_ignore(png_structp, png_const_charp) {}

void png_read_mem(png_structp png, png_bytep dst, size_t n) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  if (n > st->size - st->pos) png_error(png, "truncated PNG data");
  std::memcpy(dst, st->data + st->pos, n);
  st->pos += n;
}

// Decodes to 8-bit RGB (channel conversion happens in the caller); false with st.message.
bool png_decode(PngState& st, Image& out) {
  st.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &st, png_fail, png_ignore);
  if (!st.png) return std::snprintf(st.message, sizeof st.message, "out of memory"), false;
  st.info = png_create_info_struct(st.png);
  if (!st.info) return std::snprintf(st.message, sizeof st.message, "out of memory"), false;
  if (setjmp(png_jmpbuf(st.png))) return false;
  png_set_read_fn(st.png, &st, png_read_mem);
  png_read_info(st.png, st.info);
  const png_uint_32 w = png_get_image_width(st.png, st.info);
  const png_uint_32 h = png_get_image_height(st.png, st.info);
  if (static_cast<int64_t>(w) * h > kMaxPixels)
    png_error(st.png, "image too large (> 2^28 pixels)");
  png_set_expand(st.png);       // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha
  png_set_scale_16(st.png);     // 16 -> 8 bits, rounded
  png_set_strip_alpha(st.png);  // dropped, as PIL's convert("RGB") does
  png_set_gray_to_rgb(st.png);
  png_set_interlace_handling(st.png);
  png_read_update_info(st.png, st.info);
  if (png_get_rowbytes(st.png, st.info) != static_cast<size_t>(w) * 3)
    png_error(st.png, "unexpected pixel layout after conversion to 8-bit RGB");
  out.width = w;
  out.height = h;
  out.channels = 3;
  out.pixels.resize(static_cast<size_t>(w) * h * 3);
  st.rows.resize(h);
  for (png_uint_32 y = 0; y < h; ++y)
    st.rows[y] = out.pixels.data() + static_cast<size_t>(y) * w * 3;
  png_read_image(st.png, st.rows.data());
  return true;
}

}  // namespace

Image decode_image(const std::vector<uint8_t>& bytes, int channels, const std::string& name,
                   int64_t min_shorter) {
  WIN_CHECK(channels == 1 || channels == 3, ErrorKind::Internal, "decode_image: channels ",
            channels);
  static constexpr uint8_t kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Image img;
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
    JpegState st;
    WIN_CHECK(jpeg_decode(st, bytes.data(), bytes.size(), channels, min_shorter, img),
              ErrorKind::Data, name, ": cannot decode the JPEG: ", st.err.message);
    if (st.err.warnings > 0)
      log_warn(name, ": libjpeg: ", st.err.warning,
               st.err.warnings > 1 ? cat(" (and ", st.err.warnings - 1, " more warnings)") : "");
  } else if (bytes.size() >= 8 && std::memcmp(bytes.data(), kPng, 8) == 0) {
    PngState st;
    st.data = bytes.data();
    st.size = bytes.size();
    WIN_CHECK(png_decode(st, img), ErrorKind::Data, name, ": cannot decode the PNG: ", st.message);
  } else {
    WIN_FAIL(ErrorKind::Data, name, ": neither a JPEG nor a PNG file (",
             bytes.empty() ? "empty" : "unknown signature", ")");
  }
  WIN_CHECK(img.width > 0 && img.height > 0, ErrorKind::Data, name, ": image has no pixels");
  convert_channels(img, channels);
  return img;
}

Image load_image(const std::string& path, int channels, int64_t min_shorter) {
  std::ifstream f(path, std::ios::binary);
  WIN_CHECK(f.good(), ErrorKind::Data, path, ": cannot open: ", std::strerror(errno));
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  WIN_CHECK(!f.bad(), ErrorKind::Data, path, ": cannot read: ", std::strerror(errno));
  return decode_image(bytes, channels, path, min_shorter);
}

// ---- resizing ----

namespace {

// The input pixels and weights that make each output pixel along one axis.
struct Taps {
  std::vector<int64_t> first, count;  // per output pixel
  std::vector<float> weight;          // count[j] weights of output j, from offset[j]
  std::vector<int64_t> offset;
};

Taps make_taps(int64_t in, int64_t out) {
  Taps t;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  for (int64_t j = 0; j < out; ++j) {
    t.offset.push_back(static_cast<int64_t>(t.weight.size()));
    if (in == out) {  // copy
      t.first.push_back(j);
      t.count.push_back(1);
      t.weight.push_back(1.0f);
    } else if (out < in) {  // area: coverage of [j, j + 1) * scale
      const double x0 = static_cast<double>(j) * scale, x1 = x0 + scale;
      const auto i0 = static_cast<int64_t>(std::floor(x0));
      const int64_t i1 = std::min<int64_t>(in, static_cast<int64_t>(std::ceil(x1)));
      t.first.push_back(i0);
      t.count.push_back(i1 - i0);
      for (int64_t i = i0; i < i1; ++i) {
        const double cover = std::min<double>(static_cast<double>(i + 1), x1) -
                             std::max<double>(static_cast<double>(i), x0);
        t.weight.push_back(static_cast<float>(cover / scale));
      }
    } else {  // bilinear, half-pixel centers, edges clamped
      const double x = std::clamp((static_cast<double>(j) + 0.5) * scale - 0.5, 0.0,
                                  static_cast<double>(in - 1));
      const auto i0 = static_cast<int64_t>(std::floor(x));
      const double f = x - static_cast<double>(i0);
      t.first.push_back(i0);
      t.count.push_back(i0 + 1 < in ? 2 : 1);
      t.weight.push_back(static_cast<float>(1.0 - f));
      if (i0 + 1 < in) t.weight.push_back(static_cast<float>(f));
    }
  }
  return t;
}

}  // namespace

Image resize_shorter_side(const Image& img, int64_t shorter) {
  WIN_CHECK(shorter >= 1 && img.height >= 1 && img.width >= 1, ErrorKind::Internal,
            "resize_shorter_side: bad sizes");
  const bool tall = img.height > img.width;
  const int64_t small = tall ? img.width : img.height, large = tall ? img.height : img.width;
  const auto longer =
      std::max<int64_t>(1, std::llround(static_cast<double>(large) * static_cast<double>(shorter) /
                                        static_cast<double>(small)));
  Image out;
  out.height = tall ? longer : shorter;
  out.width = tall ? shorter : longer;
  out.channels = img.channels;
  const int64_t c = img.channels;
  const Taps tx = make_taps(img.width, out.width), ty = make_taps(img.height, out.height);
  // Horizontal pass into floats (H_in, W_out, C), then vertical into bytes.
  std::vector<float> mid(static_cast<size_t>(img.height * out.width * c));
  for (int64_t y = 0; y < img.height; ++y) {
    const uint8_t* src = img.pixels.data() + y * img.width * c;
    float* dst = mid.data() + y * out.width * c;
    for (int64_t x = 0; x < out.width; ++x)
      for (int64_t ch = 0; ch < c; ++ch) {
        float acc = 0;
        for (int64_t k = 0; k < tx.count[x]; ++k)
          acc += tx.weight[tx.offset[x] + k] * src[(tx.first[x] + k) * c + ch];
        dst[x * c + ch] = acc;
      }
  }
  out.pixels.resize(static_cast<size_t>(out.height * out.width * c));
  const int64_t row = out.width * c;
  std::vector<float> acc(static_cast<size_t>(row));
  for (int64_t y = 0; y < out.height; ++y) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t k = 0; k < ty.count[y]; ++k) {
      const float w = ty.weight[ty.offset[y] + k];
      const float* src = mid.data() + (ty.first[y] + k) * row;
      for (int64_t i = 0; i < row; ++i) acc[i] += w * src[i];
    }
    uint8_t* dst = out.pixels.data() + y * row;
    for (int64_t i = 0; i < row; ++i)
      dst[i] = static_cast<uint8_t>(std::clamp(acc[i], 0.0f, 255.0f) + 0.5f);  // round half up
  }
  return out;
}

Image center_crop(const Image& img, int64_t size) {
  WIN_CHECK(size >= 1 && size <= img.height && size <= img.width, ErrorKind::Internal,
            "center_crop: ", size, " does not fit in ", img.height, "x", img.width);
  Image out;
  out.height = out.width = size;
  out.channels = img.channels;
  const int64_t top = (img.height - size) / 2, left = (img.width - size) / 2;
  const int64_t row = size * img.channels;
  out.pixels.resize(static_cast<size_t>(size * row));
  for (int64_t y = 0; y < size; ++y)
    std::memcpy(out.pixels.data() + y * row,
                img.pixels.data() + ((top + y) * img.width + left) * img.channels,
                static_cast<size_t>(row));
  return out;
}

}  // namespace win::data
