// Rank 0 reads the deck, every rank parses the same text (see commands.hpp).
#include "app/commands.hpp"
#include "config/load.hpp"
#include "dist/collective.hpp"

namespace win::app {

config::Deck load_deck_everywhere(const std::string& path,
                                  const std::vector<std::string>& overrides) {
  const std::string text = dist::from_root(dist::world(), [&] {
    std::string t = config::read_deck_text(path);
    config::parse_deck(t, path, overrides);  // a bad deck fails here, once, on rank 0
    return t;
  });
  return config::parse_deck(text, path, overrides);
}

}  // namespace win::app
