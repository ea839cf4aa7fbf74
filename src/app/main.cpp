// The win executable: everything happens in app::main_entry.
#include "app/commands.hpp"

int main(int argc, char** argv) {
  return win::app::main_entry(argc, argv);
}
