// Image shards as a loader source: decode, augment (random crop with zero padding, horizontal
// flip, drawn by (epoch, global sample index) from the counter-based RNG), normalise with the
// shards' statistics, into a channels-last f32 batch.
#include <algorithm>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/image_shard.hpp"
#include "data/loader.hpp"

namespace win::data {

namespace {

constexpr uint64_t kAugmentStream = 0xA06;

class ImageSource final : public SampleSource {
 public:
  ImageSource(ImageDataset ds, AugmentOptions aug, uint64_t seed)
      : ds_(std::move(ds)), aug_(aug), rng_(seed, kAugmentStream), seed_(seed) {
    const auto& g = ds_.geometry();
    pixels_.resize(static_cast<size_t>(g.bytes()));
    scale_.resize(static_cast<size_t>(g.channels));
    shift_.resize(static_cast<size_t>(g.channels));
    const std::vector<double>& means = aug_.mean.empty() ? ds_.mean() : aug_.mean;
    const std::vector<double>& sds = aug_.std.empty() ? ds_.std() : aug_.std;
    WIN_CHECK(static_cast<int64_t>(means.size()) == g.channels &&
                  static_cast<int64_t>(sds.size()) == g.channels,
              ErrorKind::Data, "image shards ", ds_.files().front(), ": ", g.channels,
              " channels, but the statistics to normalise them with have ", means.size());
    for (int64_t c = 0; c < g.channels; ++c) {
      const double mean = aug_.normalize ? means[static_cast<size_t>(c)] : 0.0;
      const double sd = aug_.normalize ? sds[static_cast<size_t>(c)] : 1.0;
      WIN_CHECK(sd > 0, ErrorKind::Data, "image shards ", ds_.files().front(), ": channel ", c,
                " has standard deviation ", sd);
      scale_[static_cast<size_t>(c)] = static_cast<float>(1.0 / (255.0 * sd));
      shift_[static_cast<size_t>(c)] = static_cast<float>(-mean / sd);
    }
  }

  int64_t size() const override { return ds_.size(); }
  std::unique_ptr<SampleSource> clone() const override {
    return std::make_unique<ImageSource>(ds_.reopen(), aug_, seed_);
  }
  void allocate(Batch& b, int64_t local) const override {
    const auto& g = ds_.geometry();
    b.x = empty_channels_last({local, g.channels, g.height, g.width}, DType::F32);
    b.labels = Tensor::empty({local}, DType::I32);
  }

  void fill(Batch& b, int64_t slot, int64_t sample, int64_t epoch) override {
    const auto& g = ds_.geometry();
    ds_.read(sample, pixels_.data());
    b.labels.data<int32_t>()[slot] = ds_.label(sample);
    int64_t dy = 0, dx = 0;
    bool flip = false;
    if (aug_.augment) {
      const auto r = rng_.block(static_cast<uint64_t>(epoch), static_cast<uint64_t>(sample));
      const auto span = static_cast<uint32_t>(2 * aug_.crop_padding + 1);
      dy = static_cast<int64_t>(r[0] % span) - aug_.crop_padding;
      dx = static_cast<int64_t>(r[1] % span) - aug_.crop_padding;
      flip = aug_.flip && (r[2] & 1u);
    }
    // Channels-last batch memory: slot, then (h, w, c).
    float* out = b.x.data<float>() + slot * g.bytes();
    const int64_t c_n = g.channels;
    for (int64_t h = 0; h < g.height; ++h) {
      const int64_t sh = h + dy;
      for (int64_t w = 0; w < g.width; ++w) {
        const int64_t sw = (flip ? g.width - 1 - w : w) + dx;
        float* o = out + (h * g.width + w) * c_n;
        const bool inside = sh >= 0 && sh < g.height && sw >= 0 && sw < g.width;
        const uint8_t* p = inside ? pixels_.data() + (sh * g.width + sw) * c_n : nullptr;
        for (int64_t c = 0; c < c_n; ++c)  // padding is pixel 0, normalised like any other
          o[c] = static_cast<float>(inside ? p[c] : 0) * scale_[static_cast<size_t>(c)] +
                 shift_[static_cast<size_t>(c)];
      }
    }
  }

 private:
  ImageDataset ds_;
  AugmentOptions aug_;
  Philox rng_;
  uint64_t seed_;
  std::vector<uint8_t> pixels_;
  std::vector<float> scale_, shift_;
};

}  // namespace

std::unique_ptr<SampleSource> image_source(const std::string& spec, AugmentOptions aug,
                                           uint64_t seed) {
  return std::make_unique<ImageSource>(ImageDataset::open(spec), aug, seed);
}

}  // namespace win::data
