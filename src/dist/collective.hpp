// Collective helpers for the decisions and side effects of DESIGN §8 that must look the same on
// every rank: one rank (the root) writes a file or reads the deck, and every rank learns the
// outcome, including a failure as the same error, so no rank runs on alone or waits forever.
#pragma once

#include <functional>
#include <string>

#include "core/error.hpp"
#include "dist/comm.hpp"

namespace win::dist {

// An error every rank of the communicator raised together (they all learned it from the root):
// the top level then exits with its code on every rank without aborting the job, and only rank 0
// prints it.
class CollectiveError : public Error {
 public:
  CollectiveError(ErrorKind kind, const std::string& message, bool whole_job)
      : Error(kind, message), whole_job_(whole_job) {}
  // Every rank of the job raised it (not only those of a sub-communicator).
  bool whole_job() const { return whole_job_; }

 private:
  bool whole_job_;
};

// Runs fn on the root of comm only; the other ranks wait until it finished (a barrier follows,
// so that none of them reads the file before it exists or runs ahead of it). When fn throws on
// the root, every rank throws an Error of the same kind and message. One rank: just fn().
void on_root(const Comm& comm, const std::function<void()>& fn);

// Runs fn on the root and broadcasts the string it returns (e.g. the deck's text); failures as
// for on_root.
std::string from_root(const Comm& comm, const std::function<std::string()>& fn);

}  // namespace win::dist
