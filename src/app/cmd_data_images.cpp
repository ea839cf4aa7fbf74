// `win data idx|cifar|images`: the image dataset converters (DESIGN §5) on the command line. The
// work is done by data/image_convert.hpp; this file parses options, and prints the summary line
// (samples, shards, geometry, per-channel mean/std) a user copies into a deck or a paper.
#include <algorithm>
#include <cstdio>

#include "app/cmd_data.hpp"
#include "core/error.hpp"
#include "data/image_convert.hpp"

namespace win::app {

namespace {

using data::ConvertSummary;
using data::ShardOutput;

const OptionSpec kOut{"--out", "DIR", "output folder (created if missing); required", false};
const OptionSpec kPrefix{"--prefix", "NAME", "shard names NAME-00000.h5, ... (default train)",
                         false};
const OptionSpec kGzip{"--gzip", "L", "gzip level 1..9 of the images (default 4)", false};

OptionSpec per_shard_option(int64_t def) {
  return {"--per-shard", "N", cat("samples per shard (default ", def, ")"), false};
}

ShardOutput shard_output(const Args& a, const std::string& cmd, int64_t per_shard_default) {
  ShardOutput out;
  const auto dir = a.get("--out");
  WIN_CHECK(dir && !dir->empty(), ErrorKind::Usage, "win ", cmd,
            ": --out DIR is required (see: win ", cmd, " --help)");
  out.dir = *dir;
  out.prefix = a.get("--prefix").value_or("train");
  WIN_CHECK(!out.prefix.empty() && out.prefix.find('/') == std::string::npos, ErrorKind::Usage,
            "win ", cmd, ": --prefix must be a non-empty name without '/'");
  const long long per = a.get_int("--per-shard").value_or(per_shard_default);
  WIN_CHECK(per >= 1, ErrorKind::Usage, "win ", cmd, ": --per-shard must be >= 1, got ", per);
  out.per_shard = per;
  const long long gz = a.get_int("--gzip").value_or(4);
  WIN_CHECK(gz >= 1 && gz <= 9, ErrorKind::Usage, "win ", cmd, ": --gzip must be in 1..9, got ",
            gz);
  out.gzip_level = static_cast<int>(gz);
  return out;
}

void print_summary(const ConvertSummary& s, const ShardOutput& out) {
  std::string mean, stdev;
  for (size_t c = 0; c < s.mean.size(); ++c) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s%.4f", c ? ", " : "", s.mean[c]);
    mean += buf;
    std::snprintf(buf, sizeof buf, "%s%.4f", c ? ", " : "", s.std[c]);
    stdev += buf;
  }
  std::printf(
      "wrote %lld samples (%lldx%lldx%lld, %lld classes) in %zu shard%s to %s/%s-*.h5; "
      "mean [%s] std [%s]\n",
      static_cast<long long>(s.samples), static_cast<long long>(s.geometry.height),
      static_cast<long long>(s.geometry.width), static_cast<long long>(s.geometry.channels),
      static_cast<long long>(s.num_classes), s.shards.size(), s.shards.size() == 1 ? "" : "s",
      out.dir.c_str(), out.prefix.c_str(), mean.c_str(), stdev.c_str());
  std::fflush(stdout);
}

int run_idx(const Args& a) {
  ShardOutput out = shard_output(a, "data idx", 10000);
  out.limit = a.get_int("--limit").value_or(0);
  WIN_CHECK(out.limit >= 0, ErrorKind::Usage, "win data idx: --limit must be >= 0");
  const long long classes = a.get_int("--classes").value_or(10);
  print_summary(data::convert_idx(a.positionals[0], a.positionals[1], out, classes), out);
  return 0;
}

int run_cifar(const Args& a) {
  const ShardOutput out = shard_output(a, "data cifar", 10000);
  data::CifarVariant v = data::CifarVariant::Auto;
  if (const auto s = a.get("--variant")) {
    WIN_CHECK(*s == "10" || *s == "100", ErrorKind::Usage,
              "win data cifar: --variant must be 10 or 100, got '", *s, "'");
    v = *s == "10" ? data::CifarVariant::Cifar10 : data::CifarVariant::Cifar100;
  }
  print_summary(data::convert_cifar(a.positionals, out, v, a.has("--coarse")), out);
  return 0;
}

int run_images(const Args& a) {
  const ShardOutput out = shard_output(a, "data images", 1000);
  data::FolderOptions o;
  o.size = a.get_int("--size").value_or(224);
  o.resize = a.get_int("--resize").value_or(std::max<int64_t>(o.size, o.size * 8 / 7));
  o.channels = a.has("--gray") ? 1 : 3;
  const long long th = a.get_int("--threads").value_or(0);
  WIN_CHECK(th >= 0 && th <= 1024, ErrorKind::Usage,
            "win data images: --threads must be in 0..1024");
  o.threads = static_cast<int>(th);
  const ConvertSummary s = data::convert_image_folder(a.positionals[0], out, o);
  print_summary(s, out);
  std::printf("class indices: %s/classes.txt\n", out.dir.c_str());
  return 0;
}

}  // namespace

Command data_idx_command() {
  return {
      {.name = "data idx",
       .synopsis = "IMAGES LABELS --out DIR [options]",
       .summary = "MNIST / Fashion-MNIST IDX files -> image shards",
       .details = "Converts an IDX image file (ubyte [N, rows, cols]) and its label file "
                  "(ubyte [N]),\nraw or gzipped (e.g. train-images-idx3-ubyte.gz), into "
                  "shards of uint8 [N, rows, cols, 1]\nimages and int32 labels, with the "
                  "dataset's per-channel mean and std (of pixel/255).",
       .options = {kOut,
                   kPrefix,
                   per_shard_option(10000),
                   {"--classes", "K", "number of classes; labels must be < K (default 10)", false},
                   {"--limit", "N", "convert only the first N samples (small test sets; 0 = all)",
                    false},
                   kGzip},
       .min_positionals = 2,
       .max_positionals = 2},
      run_idx};
}

Command data_cifar_command() {
  return {
      {.name = "data cifar",
       .synopsis = "FILE... --out DIR [options]",
       .summary = "CIFAR-10/100 binary files -> image shards",
       .details = "Converts CIFAR binary files, in the order given, into shards of uint8 "
                  "[N, 32, 32, 3]\n(HWC) images and int32 labels. CIFAR-10: data_batch_*.bin, "
                  "test_batch.bin (1 label byte +\n3072 pixel bytes per record); CIFAR-100: "
                  "train.bin, test.bin (coarse and fine label\nbytes, then the pixels; fine "
                  "labels unless --coarse). The variant is told from the file\nnames, else "
                  "from their sizes; --variant settles it.",
       .options = {kOut,
                   kPrefix,
                   per_shard_option(10000),
                   {"--coarse", "", "CIFAR-100: use the 20 coarse labels, not the 100 fine", false},
                   {"--variant", "10|100", "CIFAR-10 or CIFAR-100 (default: from the files)",
                    false},
                   kGzip},
       .min_positionals = 1,
       .max_positionals = 1 << 16},
      run_cifar};
}

Command data_images_command() {
  return {{.name = "data images",
           .synopsis = "DIR --out OUT [options]",
           .summary = "a folder of class folders of JPEG/PNG -> image shards",
           .details = "Converts an ImageNet-style folder, DIR/<class>/<image>.jpg|.jpeg|.png, "
                      "into shards of\nuint8 [N, S, S, C] images and int32 labels. Class names "
                      "sorted byte-wise become\nindices 0..K-1, written to OUT/classes.txt "
                      "(index<TAB>name); images go class by class,\nin name order. Each image "
                      "has its shorter side resized to --resize (area average when\nshrinking, "
                      "bilinear when enlarging), then the center S x S (--size) is kept. Gray,\n"
                      "CMYK, palette, 16-bit and alpha images are converted to RGB (alpha "
                      "dropped), or to\ngray (BT.601 luma) with --gray. A file that does not "
                      "decode stops the conversion.",
           .options = {kOut,
                       kPrefix,
                       per_shard_option(1000),
                       {"--size", "S", "output height and width (default 224)", false},
                       {"--resize", "R", "shorter side before the crop, >= S (default S*8/7: 256)",
                        false},
                       {"--gray", "", "one channel (luma) instead of RGB", false},
                       {"--threads", "N", "decoding threads (default: all cores)", false},
                       kGzip},
           .min_positionals = 1,
           .max_positionals = 1},
          run_images};
}

}  // namespace win::app
