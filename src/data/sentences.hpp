// Text front ends of the BERT pipeline: a rule-based English sentence splitter and the readers of
// the input text formats, all returning documents as lists of sentences (what NSP pairs and
// `win data sentences` need):
//   lines          one sentence per line, blank line between documents (Google BERT's format)
//   raw            prose: paragraphs separated by blank lines (a paragraph may be hard-wrapped
//                  over several lines), split into sentences; a line holding only "---" separates
//                  documents, and each file ends its last document
//   wikiextractor  WikiExtractor's <doc id=".." url=".." title=".."> ... </doc> blocks; the first
//                  line of each block (the title, which WikiExtractor repeats) is skipped, and
//                  every other line is a paragraph, split into sentences
// Readers require UTF-8 and report bad input (invalid UTF-8, unbalanced <doc> tags) as data errors
// naming the file and line. Whitespace runs inside a sentence become single spaces; empty
// documents are dropped.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace win::data {

using Document = std::vector<std::string>;  // its sentences, in order

// Splits a paragraph of English prose into sentences at . ! ? and ellipses (and any closing quotes
// or brackets after them) when the next word can start a sentence. It keeps going across
// abbreviations (Mr. Dr. St. e.g. i.e. vs. Gen. ...), "No. 5" and "Jan. 20", initials
// ("J. F. Kennedy"), decimals and list numbers ("1. First"); after dotted abbreviations (U.S.,
// a.m.) and Jr./Inc./etc. it splits only before a word that typically opens a sentence (He, The,
// ...).
std::vector<std::string> split_sentences(std::string_view paragraph);

enum class TextFormat { Lines, Raw, WikiExtractor };
// "lines" | "raw" | "wikiextractor"; a usage error naming the choices otherwise.
TextFormat parse_text_format(const std::string& name);
const char* text_format_name(TextFormat format);

// Streams the documents of one file.
class DocumentReader {
 public:
  // A data error when the file cannot be opened.
  DocumentReader(std::string path, TextFormat format);
  // The next non-empty document; false at the end of the file.
  bool next(Document& doc);
  int64_t bytes_read() const { return bytes_; }  // for progress
  int64_t file_size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  bool read_line(std::string& line);  // without its line break; checked UTF-8
  void add_paragraph(Document& doc, std::string& paragraph);
  bool next_lines(Document& doc);
  bool next_raw(Document& doc);
  bool next_wiki(Document& doc);

  std::string path_;
  TextFormat format_;
  std::ifstream in_;
  int64_t line_no_ = 0, bytes_ = 0, size_ = 0;
};

// All documents of a file.
std::vector<Document> read_documents(const std::string& path, TextFormat format);

}  // namespace win::data
