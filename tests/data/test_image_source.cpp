// Image batches from shards: pixels normalised with the shards' mean and std in channels-last
// memory; augmentation that is a pure function of (seed, epoch, sample): each augmented image is
// the original shifted by at most the padding (zero fill) and possibly mirrored, and the same
// draws come back for the same (epoch, sample) whatever loader asks.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <filesystem>

#include "core/error.hpp"
#include "data/image_shard.hpp"
#include "data/loader.hpp"

using namespace win;
using namespace win::data;

namespace {

struct Shards {
  std::string dir;
  std::vector<std::vector<uint8_t>> images;
  explicit Shards(int n) {
    dir = testing::TempDir() + "img_source_" + std::to_string(::getpid());
    std::filesystem::remove_all(dir);
    ImageShardWriter w(dir, "train", 7, {5, 6, 2}, 3, "test");
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> img(5 * 6 * 2);
      for (size_t k = 0; k < img.size(); ++k)
        img[k] = static_cast<uint8_t>((i * 37 + k * 11) % 251 + 1);
      w.add(img.data(), i % 3);
      images.push_back(img);
    }
    w.finish();
  }
  ~Shards() { std::filesystem::remove_all(dir); }
};

// Sample i's value at (h, w, c) of an image stored (H, W, C), or 0 outside.
double pixel(const std::vector<uint8_t>& img, int64_t h, int64_t w, int64_t c) {
  if (h < 0 || h >= 5 || w < 0 || w >= 6) return 0;
  return img[static_cast<size_t>((h * 6 + w) * 2 + c)];
}

}  // namespace

TEST(ImageSource, NormalisesWithTheShardStatisticsInChannelsLastMemory) {
  Shards s(20);
  const ImageDataset ds = ImageDataset::open(s.dir);
  Loader l(image_source(s.dir, {.augment = false}, 1), {4, 0, 1, 1, false, 0});
  const Batch& b = l.next();
  EXPECT_EQ(b.x.shape(), (Dims{4, 2, 5, 6}));
  EXPECT_EQ(b.x.stride(1), 1);  // channels-last
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_EQ(b.labels.data<int32_t>()[k], ds.label(b.ids[static_cast<size_t>(k)]));
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 6; ++w) {
          const double want =
              (pixel(s.images[static_cast<size_t>(b.ids[static_cast<size_t>(k)])], h, w, c) /
                   255.0 -
               ds.mean()[static_cast<size_t>(c)]) /
              ds.std()[static_cast<size_t>(c)];
          ASSERT_NEAR(b.x.at<float>({k, c, h, w}), want, 1e-5);
        }
  }
}

// A run's validation and test sets are normalised with the training set's statistics, given in
// the options; statistics of the wrong channel count are refused, naming the shards.
TEST(ImageSource, NormalisesWithGivenStatisticsInsteadOfItsOwn) {
  Shards s(8);
  const ImageStatistics own = image_statistics(s.dir);  // the light read of a set's statistics
  const ImageDataset ds = ImageDataset::open(s.dir);
  EXPECT_EQ(own.mean, ds.mean());
  EXPECT_EQ(own.std, ds.std());
  const std::vector<double> mean = {0.25, 0.75}, sd = {0.5, 0.125};
  Loader l(image_source(s.dir, {.augment = false, .mean = mean, .std = sd}, 1),
           {4, 0, 1, 1, false, 0});
  const Batch& b = l.next();
  const auto& img = s.images[static_cast<size_t>(b.ids[0])];
  for (int64_t c = 0; c < 2; ++c)
    EXPECT_NEAR(
        b.x.at<float>({0, c, 1, 2}),
        (pixel(img, 1, 2, c) / 255.0 - mean[static_cast<size_t>(c)]) / sd[static_cast<size_t>(c)],
        1e-5);
  try {
    (void)image_source(s.dir, {.augment = false, .mean = {0.5}, .std = {0.5}}, 1);
    ADD_FAILURE() << "one channel's statistics for two channels";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("2 channels"), std::string::npos) << e.what();
  }
}

// A folder holding shards of two conversions (a later one with fewer shards over an earlier
// one) is refused by name instead of being read as one set; a glob still picks shards by hand.
TEST(ImageSource, AFolderWithLeftoverShardsOfAnotherConversionIsRefused) {
  Shards s(20);  // 3 shards (7, 7, 6 samples)
  {
    ImageShardWriter w(s.dir, "train", 100, {5, 6, 2}, 3, "again");
    for (int i = 0; i < 5; ++i) w.add(s.images[static_cast<size_t>(i)].data(), 0);
    w.finish();  // one shard, train-00000.h5; train-00001 and 00002 are left over
  }
  try {
    (void)ImageDataset::open(s.dir);
    ADD_FAILURE() << "a folder of two conversions was read as one";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("num_shards"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("holds 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(ImageDataset::open(s.dir + "/train-00000.h5").size(), 5);
}

// A folder that lost a shard of its conversion names the one missing.
TEST(ImageSource, AFolderMissingAShardNamesIt) {
  Shards s(20);  // 3 shards (7, 7, 6 samples)
  std::filesystem::remove(s.dir + "/train-00001.h5");
  try {
    (void)ImageDataset::open(s.dir);
    ADD_FAILURE() << "a folder missing a shard was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Data);
    EXPECT_NE(std::string(e.what()).find("holds 2: shard 00001 (train-00001.h5) missing"),
              std::string::npos)
        << e.what();
  }
}

TEST(ImageSource, AugmentationIsAShiftWithinThePaddingOrItsMirrorAndRepeatsForTheSameDraw) {
  Shards s(21);
  const ImageDataset ds = ImageDataset::open(s.dir);
  AugmentOptions aug{.augment = true, .crop_padding = 2, .flip = true, .normalize = false};
  Loader a(image_source(s.dir, aug, 5), {7, 0, 1, 3, true, 2});
  Loader b(image_source(s.dir, aug, 5), {7, 0, 1, 3, true, 0});
  int flipped = 0, shifted = 0;
  for (int step = 0; step < 6; ++step) {  // two epochs
    const Batch& x = a.next();
    const Batch& y = b.next();
    ASSERT_EQ(x.x.to_vector(), y.x.to_vector())
        << "the same (epoch, sample) must draw the same crop";
    for (int64_t k = 0; k < 7; ++k) {
      const auto& img = s.images[static_cast<size_t>(x.ids[static_cast<size_t>(k)])];
      bool found = false;
      for (int flip = 0; flip < 2 && !found; ++flip)
        for (int64_t dy = -2; dy <= 2 && !found; ++dy)
          for (int64_t dx = -2; dx <= 2 && !found; ++dx) {
            bool same = true;
            for (int64_t c = 0; c < 2 && same; ++c)
              for (int64_t h = 0; h < 5 && same; ++h)
                for (int64_t w = 0; w < 6 && same; ++w)
                  same = std::abs(x.x.at<float>({k, c, h, w}) * 255.0 -
                                  pixel(img, h + dy, (flip ? 5 - w : w) + dx, c)) < 1e-3;
            if (same) {
              found = true;
              flipped += flip;
              shifted += dy != 0 || dx != 0;
            }
          }
      EXPECT_TRUE(found) << "sample " << x.ids[static_cast<size_t>(k)]
                         << " is not a padded crop or flip";
    }
  }
  EXPECT_GT(flipped, 5);  // 42 draws: both flip outcomes occur
  EXPECT_LT(flipped, 37);
  EXPECT_GT(shifted, 20);  // and most crops move
}
