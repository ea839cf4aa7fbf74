// SIGUSR1 / SIGTERM -> a flag (see signals.hpp). The handler only stores to a lock-free atomic.
#include "train/signals.hpp"

#include <atomic>
#include <csignal>

namespace win::train {

namespace {
std::atomic<int> g_stop{0};
extern "C" void on_stop_signal(int sig) {
  g_stop.store(sig);
}
}  // namespace

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool stop_requested() {
  return g_stop.load() != 0;
}
void clear_stop_request() {
  g_stop.store(0);
}

}  // namespace win::train
