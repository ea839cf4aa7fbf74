// See text_file.hpp.
#include "io/text_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace win::io {

void write_text_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    WIN_CHECK(out.is_open(), ErrorKind::Output, "cannot write ", path, ": ", std::strerror(errno));
    out << text;
    out.close();
    WIN_CHECK(!out.fail(), ErrorKind::Output, "writing ", tmp, " failed: ", std::strerror(errno));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  WIN_CHECK(!ec, ErrorKind::Output, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

}  // namespace win::io
