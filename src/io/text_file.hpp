// The small text outputs of a run (config.toml, report.md, the merge check, restart scores):
// written whole under a temporary name and renamed, so that a reader never sees half a file, and
// a failure is an Output error naming the path (exit 7) where an unchecked stream would lose the
// text without a word.
#pragma once

#include <string>

namespace win::io {

void write_text_file(const std::string& path, const std::string& text);

}  // namespace win::io
