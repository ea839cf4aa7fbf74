#include <gtest/gtest.h>
TEST(TrainPlaceholder, Builds) { EXPECT_EQ(2 * 2, 4); }
