// Reading decks: a TOML file plus --set overrides becomes a validated Deck, or a Config error
// (exit 2) that names file:line:col and the key path. Also the inverse, deck -> TOML text, which
// parses back to an equal Deck (the resolved config saved in the run directory).
#pragma once

#include <string>
#include <vector>

#include "config/deck.hpp"

namespace win::config {

// Reads and validates the deck at path, then applies overrides ("a.b=value") in order.
Deck load_deck(const std::string& path, const std::vector<std::string>& overrides = {});

// The text of a deck file (a Config error naming the file when it cannot be read).
std::string read_deck_text(const std::string& path);

// The same from TOML text; source_name is used in messages in place of a file name.
Deck parse_deck(const std::string& text, const std::string& source_name,
                const std::vector<std::string>& overrides = {});

// Where a key of a parsed deck was set: "deck.toml:12:3", "--set key=value", or (a key left at
// its default) its section's line or the deck file; "config" for a deck not parsed from text.
std::string key_location(const Deck& deck, const std::string& key);

// A Config error (exit 2) found after loading, formatted as the loader's: "where: key: message".
[[noreturn]] void deck_error(const Deck& deck, const std::string& key, const std::string& message);

// The resolved deck (every key, defaults included) as TOML with a comment per key.
std::string deck_to_toml(const Deck& deck);

// The keys whose values differ between two decks, each as "key = value there, value here"
// (before's value, then now's), in the order --help-config lists them; empty when equal.
std::vector<std::string> deck_differences(const Deck& before, const Deck& now);

// Every key with its type, default, constraints and meaning, for `win run --help-config`.
std::string deck_keys_help();

}  // namespace win::config
