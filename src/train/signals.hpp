// Cooperative stopping: SIGUSR1 (Slurm's warning before the time limit) and SIGTERM set a flag
// that training loops check after each step, so the step finishes, a checkpoint is written and
// win exits 75 (requeue me). A second SIGTERM is not special: the loop is already stopping.
#pragma once

namespace win::train {

void install_stop_handlers();
bool stop_requested();
void clear_stop_request();  // for tests

}  // namespace win::train
