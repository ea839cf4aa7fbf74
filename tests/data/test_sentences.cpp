// Tests of the sentence splitter and the document readers (src/data/sentences.*): tricky English
// paragraphs (abbreviations, initials, decimals, quotes, ellipses, "U.S." inside and at the end of
// a sentence), the three text formats including a WikiExtractor file with two documents, and the
// reader errors (file and line named, data-error kind).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "data/sentences.hpp"
#include "temp_dir_test.hpp"

namespace win::data {
namespace {

namespace fs = std::filesystem;
using Sents = std::vector<std::string>;

TEST(SentenceSplitter, BasicTerminals) {
  EXPECT_EQ(split_sentences("Hello there. How are you? I am fine!"),
            (Sents{"Hello there.", "How are you?", "I am fine!"}));
  EXPECT_EQ(split_sentences("  one   line\nwrapped\tover lines.  Next one.  "),
            (Sents{"one line wrapped over lines.", "Next one."}));
  EXPECT_EQ(split_sentences(""), Sents{});
  EXPECT_EQ(split_sentences(" \n\t "), Sents{});
  EXPECT_EQ(split_sentences("No terminal punctuation"), (Sents{"No terminal punctuation"}));
}

TEST(SentenceSplitter, Abbreviations) {
  EXPECT_EQ(split_sentences("Mr. and Mrs. Smith met Dr. Jones at St. Mary's. They talked."),
            (Sents{"Mr. and Mrs. Smith met Dr. Jones at St. Mary's.", "They talked."}));
  EXPECT_EQ(split_sentences("Gen. Grant won. Prof. Lee agreed, e.g. on Jan. 5 and No. 7 vs. Yale."),
            (Sents{"Gen. Grant won.", "Prof. Lee agreed, e.g. on Jan. 5 and No. 7 vs. Yale."}));
  EXPECT_EQ(split_sentences("Bring apples, pears, etc. The rest is fine, i.e. Nothing else."),
            (Sents{"Bring apples, pears, etc.", "The rest is fine, i.e. Nothing else."}));
  EXPECT_EQ(split_sentences("Is it a No. Not really."), (Sents{"Is it a No.", "Not really."}));
  EXPECT_EQ(split_sentences("He lives on Main St. He likes it."),
            (Sents{"He lives on Main St.", "He likes it."}));
}

TEST(SentenceSplitter, InitialsAndUs) {
  EXPECT_EQ(split_sentences("J. F. Kennedy was elected in 1960. He was young."),
            (Sents{"J. F. Kennedy was elected in 1960.", "He was young."}));
  EXPECT_EQ(split_sentences("The U.S. Army is large. It moved to the U.S. Then it grew."),
            (Sents{"The U.S. Army is large.", "It moved to the U.S.", "Then it grew."}));
  EXPECT_EQ(split_sentences("We met at 5 p.m. The talk was short. So was I. Really."),
            (Sents{"We met at 5 p.m.", "The talk was short.", "So was I.", "Really."}));
  EXPECT_EQ(split_sentences("Martin Luther King Jr. He had a dream."),
            (Sents{"Martin Luther King Jr.", "He had a dream."}));
  EXPECT_EQ(split_sentences("Smith Jr. Hospital opened."), (Sents{"Smith Jr. Hospital opened."}));
}

TEST(SentenceSplitter, NumbersQuotesEllipses) {
  EXPECT_EQ(split_sentences("Pi is 3.14159. The budget is $1.5 billion. Growth was 2.5%."),
            (Sents{"Pi is 3.14159.", "The budget is $1.5 billion.", "Growth was 2.5%."}));
  EXPECT_EQ(split_sentences("He said, \"Stop.\" Then he left. \"Why?\" she asked."),
            (Sents{"He said, \"Stop.\"", "Then he left.", "\"Why?\" she asked."}));
  EXPECT_EQ(split_sentences("(See the appendix.) The results follow. “Done!” He smiled."),
            (Sents{"(See the appendix.)", "The results follow.", "“Done!”", "He smiled."}));
  EXPECT_EQ(split_sentences("I wonder... Maybe not. Well... we will see… Later then."),
            (Sents{"I wonder...", "Maybe not.", "Well... we will see…", "Later then."}));
  EXPECT_EQ(split_sentences("1. First item here. 2. Second item."),
            (Sents{"1. First item here.", "2. Second item."}));
  EXPECT_EQ(split_sentences("Wait!? Yes."), (Sents{"Wait!?", "Yes."}));
  EXPECT_EQ(split_sentences("Ça va? Écoute."), (Sents{"Ça va?", "Écoute."}));
}

TEST(SentenceSplitter, GarbageNeverCrashes) {
  std::string junk;
  uint32_t x = 99;
  for (int i = 0; i < 100000; ++i) {
    x = x * 1664525u + 1013904223u;
    junk.push_back(static_cast<char>((x >> 24) % 3 ? x >> 24 : '.'));
  }
  size_t bytes = 0;
  for (const auto& s : split_sentences(junk)) bytes += s.size();
  EXPECT_LE(bytes, junk.size());
}

TEST(SentenceSplitter, FormatNames) {
  EXPECT_EQ(parse_text_format("lines"), TextFormat::Lines);
  EXPECT_EQ(parse_text_format("raw"), TextFormat::Raw);
  EXPECT_EQ(parse_text_format("wikiextractor"), TextFormat::WikiExtractor);
  EXPECT_STREQ(text_format_name(TextFormat::WikiExtractor), "wikiextractor");
  try {
    parse_text_format("xml");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
  }
}

class SentenceReaderTest : public testing_data::TempDirTest {
 protected:
  SentenceReaderTest() : TempDirTest("win_sent_") {}
  std::string write(const std::string& name, const std::string& text) {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }
  // The message of the data error that reading path in format raises ("" if none).
  std::string error(const std::string& path, TextFormat format) {
    try {
      read_documents(path, format);
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Data) << e.what();
      return e.what();
    }
    ADD_FAILURE() << "no error reading " << path;
    return "";
  }
};

TEST_F(SentenceReaderTest, LinesFormat) {
  const auto p = write("lines.txt",
                       "\xEF\xBB\xBF"
                       "First sentence.\r\nSecond   sentence.\n\n\n  Doc two only.  \n\n");
  const auto docs = read_documents(p, TextFormat::Lines);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0], (Sents{"First sentence.", "Second sentence."}));
  EXPECT_EQ(docs[1], (Sents{"Doc two only."}));
  EXPECT_TRUE(read_documents(write("empty.txt", ""), TextFormat::Lines).empty());
}

TEST_F(SentenceReaderTest, RawFormat) {
  const auto p = write("raw.txt",
                       "Dr. Who arrived. He was\nlate.\n\nA new paragraph! Yes.\n---\n"
                       "Second doc. Short.\n---\n---\n");
  DocumentReader r(p, TextFormat::Raw);
  Document d;
  ASSERT_TRUE(r.next(d));
  EXPECT_EQ(d, (Sents{"Dr. Who arrived.", "He was late.", "A new paragraph!", "Yes."}));
  ASSERT_TRUE(r.next(d));
  EXPECT_EQ(d, (Sents{"Second doc.", "Short."}));
  EXPECT_FALSE(r.next(d));
  EXPECT_EQ(r.bytes_read(), r.file_size());
}

TEST_F(SentenceReaderTest, WikiExtractorTwoDocs) {
  const auto p = write("wiki_00",
                       "<doc id=\"12\" url=\"https://en.wikipedia.org/wiki?curid=12\" "
                       "title=\"Anarchism\">\n"
                       "Anarchism\n\n"
                       "Anarchism is a political philosophy. It is skeptical of authority.\n\n"
                       "The U.S. had anarchists too. Emma Goldman was one.\n"
                       "</doc>\n"
                       "<doc id=\"25\" url=\"https://en.wikipedia.org/wiki?curid=25\" "
                       "title=\"Autism\">\n"
                       "Autism\n\n"
                       "Autism is a developmental disorder.\n"
                       "</doc>\n"
                       "<doc id=\"39\" url=\"u\" title=\"Empty\">\nEmpty\n</doc>\n");
  const auto docs = read_documents(p, TextFormat::WikiExtractor);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0], (Sents{"Anarchism is a political philosophy.", "It is skeptical of authority.",
                            "The U.S. had anarchists too.", "Emma Goldman was one."}));
  EXPECT_EQ(docs[1], (Sents{"Autism is a developmental disorder."}));
}

TEST_F(SentenceReaderTest, ErrorsNameFileAndLine) {
  EXPECT_NE(error((dir_ / "missing.txt").string(), TextFormat::Lines).find("missing.txt"),
            std::string::npos);
  const auto latin1 = write("latin1.txt", "fine\ncaf\xE9 au lait\n");
  EXPECT_NE(error(latin1, TextFormat::Lines).find("latin1.txt:2"), std::string::npos);
  const auto nested = write("nested", "<doc id=\"1\">\nT\nx\n<doc id=\"2\">\n");
  EXPECT_NE(error(nested, TextFormat::WikiExtractor).find("nested:4"), std::string::npos);
  const auto unclosed = write("unclosed", "<doc id=\"1\">\nT\nText.\n");
  EXPECT_NE(error(unclosed, TextFormat::WikiExtractor).find("unclosed:1"), std::string::npos);
  const auto stray = write("stray", "</doc>\n");
  EXPECT_NE(error(stray, TextFormat::WikiExtractor).find("stray:1"), std::string::npos);
  const auto outside = write("outside", "\nloose text\n");
  EXPECT_NE(error(outside, TextFormat::WikiExtractor).find("outside:2"), std::string::npos);
}

}  // namespace
}  // namespace win::data
