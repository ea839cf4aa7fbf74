// Errors: kinds map to the exit codes of DESIGN §8; checks stay on in Release builds (NDEBUG);
// an error remembers its rank and where it was raised.
#include <gtest/gtest.h>

#include "core/error.hpp"

using namespace win;

TEST(Error, ExitCodeTable) {
  EXPECT_EQ(exit_code(ErrorKind::Internal), 1);
  EXPECT_EQ(exit_code(ErrorKind::Usage), 2);
  EXPECT_EQ(exit_code(ErrorKind::Config), 2);
  EXPECT_EQ(exit_code(ErrorKind::Data), 3);
  EXPECT_EQ(exit_code(ErrorKind::Checkpoint), 4);
  EXPECT_EQ(exit_code(ErrorKind::Numerics), 5);
  EXPECT_EQ(exit_code(ErrorKind::Comm), 6);
  EXPECT_EQ(exit_code(ErrorKind::Stopped), 75);
}

TEST(Error, ChecksAreOnInEveryBuildType) {
#ifdef NDEBUG
  SCOPED_TRACE("NDEBUG build: assert() would be gone, WIN_CHECK must not be");
#endif
  int evaluated = 0;
  EXPECT_THROW(WIN_CHECK(++evaluated > 5, ErrorKind::Data, "x"), Error);
  EXPECT_EQ(evaluated, 1);
  EXPECT_NO_THROW(WIN_CHECK(true, ErrorKind::Data, "never"));
}

TEST(Error, CarriesKindMessageRankAndLocation) {
  set_process_identity(3, 4);
  try {
    WIN_FAIL(ErrorKind::Checkpoint, "file ", "ckpt.h5", ": step ", 42);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Checkpoint);
    EXPECT_EQ(e.exit_code(), 4);
    EXPECT_STREQ(e.what(), "file ckpt.h5: step 42");
    EXPECT_EQ(e.rank(), 3);
    EXPECT_NE(std::string(e.where().file_name()).find("test_error.cpp"), std::string::npos);
    EXPECT_GT(e.where().line(), 0u);
  }
  set_process_identity(0, 1);
}
