// Comm: the typed communicator of DESIGN §4. Count and datatype come from the element type, spans
// longer than INT_MAX are sent in pieces (MPI counts are int), and every MPI return code is checked
// (communication errors exit 6). Built without MPI (WIN_MPI=OFF), or started without a launcher,
// the same API runs as a one-rank communicator, so the two-core demo needs no mpirun.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

namespace win::dist {

enum class Elem { F32, F64, I32, I64, U64, I8, U8 };
enum class ReduceOp { Sum, Max, Min };

template <class T>
struct elem_of;
template <>
struct elem_of<float> {
  static constexpr Elem value = Elem::F32;
};
template <>
struct elem_of<double> {
  static constexpr Elem value = Elem::F64;
};
template <>
struct elem_of<int32_t> {
  static constexpr Elem value = Elem::I32;
};
template <>
struct elem_of<int64_t> {
  static constexpr Elem value = Elem::I64;
};
template <>
struct elem_of<uint64_t> {
  static constexpr Elem value = Elem::U64;
};
template <>
struct elem_of<int8_t> {
  static constexpr Elem value = Elem::I8;
};
template <>
struct elem_of<uint8_t> {
  static constexpr Elem value = Elem::U8;
};

// Bytes this communicator moved, for the pipeline's checks and the scaling model: payload bytes
// given to send, taken by recv, and reduced in place by allreduce.
struct Traffic {
  uint64_t sent = 0, received = 0, reduced = 0;
};

class Comm {
 public:
  Comm();  // the one-rank communicator
  ~Comm();
  Comm(Comm&&) noexcept;
  Comm& operator=(Comm&&) noexcept;
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }

  // In place: every rank ends with the reduction of all ranks' data.
  template <class T>
  void allreduce(std::span<T> data, ReduceOp op = ReduceOp::Sum) const {
    allreduce_raw(data.data(), data.size(), elem_of<std::remove_const_t<T>>::value, op);
  }
  template <class T>
  T allreduce_value(T v, ReduceOp op = ReduceOp::Sum) const {
    allreduce(std::span<T>(&v, 1), op);
    return v;
  }
  template <class T>
  void bcast(std::span<T> data, int root) const {
    bcast_raw(data.data(), data.size(), elem_of<T>::value, root);
  }
  void bcast(std::string& s, int root) const;
  template <class T>
  void send(std::span<const T> data, int dest, int tag) const {
    send_raw(data.data(), data.size(), elem_of<T>::value, dest, tag);
  }
  template <class T>
  void recv(std::span<T> data, int source, int tag) const {
    recv_raw(data.data(), data.size(), elem_of<T>::value, source, tag);
  }
  void barrier() const;

  // Non-blocking in-place sum over ranks, for overlapping communication with computation: the
  // data must stay untouched until wait_all() returns. Started reductions are matched across
  // ranks in the order they were started. progress() lets MPI advance them (it only does so
  // inside MPI calls); wait_all() completes every started one.
  template <class T>
  void start_allreduce(std::span<T> data) const {
    start_allreduce_raw(data.data(), data.size(), elem_of<std::remove_const_t<T>>::value);
  }
  void progress() const;
  void wait_all() const;

  // Collective decisions (DESIGN §8): every rank learns whether any/all ranks said yes.
  bool any(bool v) const { return allreduce_value<int32_t>(v ? 1 : 0, ReduceOp::Max) != 0; }
  bool all(bool v) const { return allreduce_value<int32_t>(v ? 1 : 0, ReduceOp::Min) != 0; }

  // Ranks with the same color form a new communicator, ordered by key.
  Comm split(int color, int key) const;

  const Traffic& traffic() const { return traffic_; }

 private:
  struct Impl;
  explicit Comm(std::unique_ptr<Impl> impl);
  void allreduce_raw(void* data, size_t count, Elem e, ReduceOp op) const;
  void bcast_raw(void* data, size_t count, Elem e, int root) const;
  void send_raw(const void* data, size_t count, Elem e, int dest, int tag) const;
  void recv_raw(void* data, size_t count, Elem e, int source, int tag) const;
  void start_allreduce_raw(void* data, size_t count, Elem e) const;

  std::unique_ptr<Impl> impl_;
  int rank_ = 0;
  int size_ = 1;
  mutable Traffic traffic_;
  friend void init(int*, char***);
  friend Comm& world();
};

// Starts MPI when this process was started by a launcher (mpiexec, srun, ...; or WIN_MPI_INIT=1)
// and records rank and size for errors and logs. Safe to call once; later calls do nothing.
void init(int* argc, char*** argv);
// Ends MPI cleanly (after every rank finished).
void finalize();
// The world communicator (one rank before init or without MPI).
Comm& world();
// True when MPI is initialised and more than one rank runs.
bool multi_rank();
// Ends every rank of the job with this exit code (MPI_Abort), or this process alone when it is
// the only one. Never returns.
[[noreturn]] void abort_job(int code);
// "Open MPI v4.1.4, ..." or "none (built without MPI)".
std::string mpi_library_version();

}  // namespace win::dist
