// The ImageNet-style folder converter (image_convert.hpp): DIR/<class>/<image> -> image shards
// plus classes.txt. Images are decoded, resized and cropped in parallel batches (decoding is the
// slow part: ~ms per photo) and written in input order, so the shards do not depend on the thread
// count; a bad image stops the conversion with an error naming its file.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/log.hpp"
#include "core/progress.hpp"
#include "data/image_convert.hpp"

namespace win::data {

namespace fs = std::filesystem;

namespace {

struct Item {
  std::string path;
  int32_t label = 0;
};

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// Sorted class folder names, and every image in them with its class index.
std::vector<Item> scan(const std::string& dir, std::vector<std::string>& classes) {
  std::error_code ec;
  WIN_CHECK(fs::exists(dir, ec), ErrorKind::Data, dir, ": no such folder");
  WIN_CHECK(fs::is_directory(dir, ec), ErrorKind::Data, dir,
            ": not a folder (expected one sub-folder per class)");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name[0] == '.' || !e.is_directory()) continue;
    WIN_CHECK(name.find_first_of("\t\n\r") == std::string::npos, ErrorKind::Data, dir,
              ": class folder name '", name,
              "' holds a tab or newline (classes.txt cannot list it)");
    classes.push_back(name);
  }
  WIN_CHECK(!ec, ErrorKind::Data, dir, ": cannot list: ", ec.message());
  WIN_CHECK(!classes.empty(), ErrorKind::Data, dir,
            ": has no class sub-folders (expected DIR/<class>/<image>.jpg)");
  std::sort(classes.begin(), classes.end());
  std::vector<Item> items;
  int64_t skipped = 0;
  for (size_t k = 0; k < classes.size(); ++k) {
    const fs::path cdir = fs::path(dir) / classes[k];
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(cdir, ec)) {
      if (e.is_regular_file() && is_image_name(e.path()))
        names.push_back(e.path().filename().string());
      else
        ++skipped;
    }
    WIN_CHECK(!ec, ErrorKind::Data, cdir.string(), ": cannot list: ", ec.message());
    if (names.empty()) log_warn(cdir.string(), ": no images; class ", k, " will have no samples");
    std::sort(names.begin(), names.end());
    for (const std::string& n : names)
      items.push_back({(cdir / n).string(), static_cast<int32_t>(k)});
  }
  if (skipped > 0)
    log_info(dir, ": skipped ", skipped, " entries that are not .jpg/.jpeg/.png files");
  WIN_CHECK(!items.empty(), ErrorKind::Data, dir, ": no .jpg/.jpeg/.png files in its ",
            classes.size(), " class folders");
  return items;
}

std::string classes_text(const std::vector<std::string>& classes) {
  std::string s;
  for (size_t i = 0; i < classes.size(); ++i) s += cat(i, "\t", classes[i], "\n");
  return s;
}

// Train and validation sets converted into one folder must number their classes alike: refuse to
// replace a classes.txt that says otherwise.
void check_classes_file(const fs::path& file, const std::string& text) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return;
  std::ifstream f(file, std::ios::binary);
  std::stringstream old;
  old << f.rdbuf();
  WIN_CHECK(old.str() == text, ErrorKind::Data, file.string(),
            " (from an earlier conversion) lists other classes than this folder has, so class "
            "indices would not agree between the shard sets: use another --out, or delete it");
}

}  // namespace

ConvertSummary convert_image_folder(const std::string& dir, const ShardOutput& out,
                                    const FolderOptions& opts) {
  WIN_CHECK(opts.size >= 1 && opts.size <= 8192, ErrorKind::Usage,
            "win data images: --size must be in 1..8192, got ", opts.size);
  WIN_CHECK(opts.resize >= opts.size && opts.resize <= 16384, ErrorKind::Usage,
            "win data images: --resize (", opts.resize, ") must be >= --size (", opts.size,
            ") and <= 16384");
  WIN_CHECK(opts.channels == 1 || opts.channels == 3, ErrorKind::Usage,
            "win data images: channels must be 1 or 3");
  std::vector<std::string> classes;
  const std::vector<Item> items = scan(dir, classes);
  const std::string text = classes_text(classes);
  const fs::path classes_file = fs::path(out.dir) / "classes.txt";
  check_classes_file(classes_file, text);

  const ImageGeometry g{opts.size, opts.size, opts.channels};
  const auto num_classes = static_cast<int64_t>(classes.size());
  ImageShardWriter writer(out.dir, out.prefix, out.per_shard, g, num_classes,
                          cat("images: ", dir, " (shorter side resized to ", opts.resize,
                              ": area average down, bilinear up; center crop ", opts.size, ")"),
                          out.gzip_level);
  const int threads = opts.threads > 0 ? opts.threads : omp_get_max_threads();
  const auto n = static_cast<int64_t>(items.size());
  const int64_t batch = std::max<int64_t>(64, 8 * threads);
  std::vector<std::vector<uint8_t>> pixels(static_cast<size_t>(batch));
  std::vector<std::string> errors(static_cast<size_t>(batch));
  std::vector<ErrorKind> kinds(static_cast<size_t>(batch));
  Progress progress("images", n, "img");
  for (int64_t b0 = 0; b0 < n; b0 += batch) {
    const int64_t b1 = std::min(n, b0 + batch);
    // Each image is decoded by one thread; an exception must not leave the OpenMP region, so each
    // is caught and the first (in input order) is rethrown after it.
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int64_t i = b0; i < b1; ++i) {
      const auto slot = static_cast<size_t>(i - b0);
      errors[slot].clear();
      try {
        const Image img =
            load_image(items[static_cast<size_t>(i)].path, opts.channels, opts.resize);
        pixels[slot] = center_crop(resize_shorter_side(img, opts.resize), opts.size).pixels;
      } catch (const Error& e) {
        errors[slot] = e.what();
        kinds[slot] = e.kind();
      } catch (const std::exception& e) {
        errors[slot] = cat(items[static_cast<size_t>(i)].path, ": ", e.what());
        kinds[slot] = ErrorKind::Data;
      }
    }
    for (int64_t i = b0; i < b1; ++i) {
      const auto slot = static_cast<size_t>(i - b0);
      if (!errors[slot].empty())
        throw Error(kinds[slot], cat(errors[slot], " (image ", i, " of ", n, ")"));
      writer.add(pixels[slot].data(), items[static_cast<size_t>(i)].label);
    }
    progress.update(b1);
  }
  progress.finish();

  ConvertSummary s;
  s.samples = writer.count();
  s.geometry = g;
  s.num_classes = num_classes;
  s.shards = writer.finish();
  std::ofstream cf(classes_file, std::ios::binary | std::ios::trunc);
  cf << text;
  cf.close();
  WIN_CHECK(cf.good(), ErrorKind::Output, classes_file.string(), ": cannot write");
  const ImageDataset ds = ImageDataset::open(s.shards.front());
  s.mean = ds.mean();
  s.std = ds.std();
  s.class_names = std::move(classes);
  return s;
}

}  // namespace win::data
