// Comm over MPI, or the one-rank stub when MPI is not built or not launched (see comm.hpp).
#include "dist/comm.hpp"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.hpp"

#if WIN_HAVE_MPI
#include "dist/mpi_check.hpp"
#endif

namespace win::dist {

namespace {
bool g_initialised = false;

#if WIN_HAVE_MPI
bool g_mpi_active = false;  // MPI_Init was called by us

// Launchers announce themselves through the environment; without one, MPI_Init would start a
// singleton, which costs time and buys nothing for a one-rank run.
bool launched_by_mpi_launcher() {
  if (const char* f = std::getenv("WIN_MPI_INIT")) return std::strcmp(f, "0") != 0;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK",
                        "MPI_LOCALNRANKS", "SLURM_STEP_NUM_TASKS"})
    if (std::getenv(v)) return true;
  return false;
}

MPI_Datatype mpi_type(Elem e) {
  switch (e) {
    case Elem::F32:
      return MPI_FLOAT;
    case Elem::F64:
      return MPI_DOUBLE;
    case Elem::I32:
      return MPI_INT32_T;
    case Elem::I64:
      return MPI_INT64_T;
    case Elem::U64:
      return MPI_UINT64_T;
    case Elem::I8:
      return MPI_INT8_T;
    case Elem::U8:
      return MPI_UINT8_T;
  }
  return MPI_BYTE;
}
MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return MPI_SUM;
    case ReduceOp::Max:
      return MPI_MAX;
    case ReduceOp::Min:
      return MPI_MIN;
  }
  return MPI_SUM;
}
#endif

size_t elem_size(Elem e) {
  switch (e) {
    case Elem::F32:
    case Elem::I32:
      return 4;
    case Elem::F64:
    case Elem::I64:
    case Elem::U64:
      return 8;
    case Elem::I8:
    case Elem::U8:
      return 1;
  }
  return 1;
}

// MPI counts are int: long buffers go in pieces of at most INT_MAX elements.
template <class F>
void in_pieces(void* data, size_t count, Elem e, F&& f) {
  auto* p = static_cast<std::byte*>(data);
  while (count > 0) {
    const size_t n = count < static_cast<size_t>(INT_MAX) ? count : static_cast<size_t>(INT_MAX);
    f(p, static_cast<int>(n));
    p += n * elem_size(e);
    count -= n;
  }
}
}  // namespace

struct Comm::Impl {
#if WIN_HAVE_MPI
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;
  std::vector<MPI_Request> pending;  // started non-blocking reductions
  ~Impl() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owned && !finalized && comm != MPI_COMM_NULL) MPI_Comm_free(&comm);
  }
#endif
};

Comm::Comm() = default;
Comm::~Comm() = default;
Comm::Comm(Comm&&) noexcept = default;
Comm& Comm::operator=(Comm&&) noexcept = default;
Comm::Comm(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
#if WIN_HAVE_MPI
  WIN_MPI_CHECK(MPI_Comm_rank(impl_->comm, &rank_));
  WIN_MPI_CHECK(MPI_Comm_size(impl_->comm, &size_));
#endif
}

void Comm::allreduce_raw(void* data, size_t count, Elem e, ReduceOp op) const {
  if (size_ == 1) return;
  traffic_.reduced += count * elem_size(e);
#if WIN_HAVE_MPI
  in_pieces(data, count, e, [&](void* p, int n) {
    WIN_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, n, mpi_type(e), mpi_op(op), impl_->comm));
  });
#else
  (void)data, (void)count, (void)e, (void)op;
#endif
}

void Comm::start_allreduce_raw(void* data, size_t count, Elem e) const {
  if (size_ == 1) return;
  WIN_CHECK(count <= static_cast<size_t>(INT_MAX), ErrorKind::Internal, "start_allreduce of ",
            count, " elements: more than one MPI count");
  traffic_.reduced += count * elem_size(e);
#if WIN_HAVE_MPI
  MPI_Request r = MPI_REQUEST_NULL;
  WIN_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), mpi_type(e), MPI_SUM,
                               impl_->comm, &r));
  impl_->pending.push_back(r);
#else
  (void)data;
#endif
}

void Comm::progress() const {
  if (size_ == 1) return;
#if WIN_HAVE_MPI
  if (impl_->pending.empty()) return;
  int done = 0;
  WIN_MPI_CHECK(MPI_Testall(static_cast<int>(impl_->pending.size()), impl_->pending.data(), &done,
                            MPI_STATUSES_IGNORE));
#endif
}

void Comm::wait_all() const {
  if (size_ == 1) return;
#if WIN_HAVE_MPI
  if (impl_->pending.empty()) return;
  WIN_MPI_CHECK(MPI_Waitall(static_cast<int>(impl_->pending.size()), impl_->pending.data(),
                            MPI_STATUSES_IGNORE));
  impl_->pending.clear();
#endif
}

void Comm::bcast_raw(void* data, size_t count, Elem e, int root) const {
  WIN_CHECK(root >= 0 && root < size_, ErrorKind::Internal, "bcast root ", root, " of ", size_);
  if (size_ == 1) return;
#if WIN_HAVE_MPI
  in_pieces(data, count, e, [&](void* p, int n) {
    WIN_MPI_CHECK(MPI_Bcast(p, n, mpi_type(e), root, impl_->comm));
  });
#else
  (void)data, (void)count, (void)e;
#endif
}

void Comm::bcast(std::string& s, int root) const {
  if (size_ == 1) return;
  uint64_t n = s.size();
  bcast(std::span<uint64_t>(&n, 1), root);
  s.resize(n);
  bcast(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), n), root);
}

void Comm::send_raw(const void* data, size_t count, Elem e, int dest, int tag) const {
  WIN_CHECK(dest >= 0 && dest < size_ && dest != rank_, ErrorKind::Internal, "send from rank ",
            rank_, " to rank ", dest, " of ", size_);
  traffic_.sent += count * elem_size(e);
#if WIN_HAVE_MPI
  in_pieces(const_cast<void*>(data), count, e, [&](void* p, int n) {
    WIN_MPI_CHECK(MPI_Send(p, n, mpi_type(e), dest, tag, impl_->comm));
  });
#else
  (void)data, (void)count, (void)e, (void)tag;
#endif
}

void Comm::recv_raw(void* data, size_t count, Elem e, int source, int tag) const {
  WIN_CHECK(source >= 0 && source < size_ && source != rank_, ErrorKind::Internal, "recv on rank ",
            rank_, " from rank ", source, " of ", size_);
  traffic_.received += count * elem_size(e);
#if WIN_HAVE_MPI
  in_pieces(data, count, e, [&](void* p, int n) {
    MPI_Status st;
    WIN_MPI_CHECK(MPI_Recv(p, n, mpi_type(e), source, tag, impl_->comm, &st));
    int got = 0;
    WIN_MPI_CHECK(MPI_Get_count(&st, mpi_type(e), &got));
    WIN_CHECK(got == n, ErrorKind::Comm, "rank ", rank_, " expected ", n, " elements from rank ",
              source, " (tag ", tag, "), received ", got);
  });
#else
  (void)data, (void)count, (void)e, (void)tag;
#endif
}

void Comm::barrier() const {
  if (size_ == 1) return;
#if WIN_HAVE_MPI
  WIN_MPI_CHECK(MPI_Barrier(impl_->comm));
#endif
}

Comm Comm::split(int color, int key) const {
  if (size_ == 1) return Comm();
#if WIN_HAVE_MPI
  auto impl = std::make_unique<Impl>();
  WIN_MPI_CHECK(MPI_Comm_split(impl_->comm, color, key, &impl->comm));
  impl->owned = true;
  WIN_MPI_CHECK(MPI_Comm_set_errhandler(impl->comm, MPI_ERRORS_RETURN));
  return Comm(std::move(impl));
#else
  (void)color, (void)key;
  return Comm();
#endif
}

Comm& world() {
  static Comm w;
  return w;
}

void init(int* argc, char*** argv) {
  if (g_initialised) return;
  g_initialised = true;
#if WIN_HAVE_MPI
  if (launched_by_mpi_launcher()) {
    int provided = 0;
    WIN_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
    g_mpi_active = true;
    WIN_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
    auto impl = std::make_unique<Comm::Impl>();
    impl->comm = MPI_COMM_WORLD;
    world() = Comm(std::move(impl));
  }
#else
  (void)argc, (void)argv;
#endif
  set_process_identity(world().rank(), world().size());
  // srun without an MPI plugin starts N independent one-rank jobs that would all write rank 0's
  // files: refuse rather than run N copies.
  if (const char* n = std::getenv("SLURM_STEP_NUM_TASKS")) {
    const int tasks = std::atoi(n);
    WIN_CHECK(tasks <= 1 || world().size() == tasks, ErrorKind::Comm, "Slurm started ", tasks,
              " tasks but MPI sees ", world().size(),
              " rank(s): launch with srun --mpi=pmix (or pmi2) so the tasks form one job");
  }
}

void finalize() {
#if WIN_HAVE_MPI
  if (g_mpi_active) {
    world() = Comm();
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
    g_mpi_active = false;
  }
#endif
}

bool multi_rank() {
  return world().size() > 1;
}

void abort_job(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
#if WIN_HAVE_MPI
  if (g_mpi_active && world().size() > 1) {
    MPI_Abort(MPI_COMM_WORLD, code);
  }
#endif
  std::_Exit(code);
}

std::string mpi_library_version() {
#if WIN_HAVE_MPI
  char buf[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(buf, &len);
  std::string s(buf, static_cast<size_t>(len));
  if (auto nl = s.find_first_of("\n,"); nl != std::string::npos) s.resize(nl);
  int major = 0, minor = 0;
  MPI_Get_version(&major, &minor);
  return cat(s, " (MPI ", major, '.', minor, ')');
#else
  return "none (built with WIN_MPI=OFF)";
#endif
}

}  // namespace win::dist
