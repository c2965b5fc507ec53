// Distribution of nas-search's candidate evaluation over processes (MPI ranks under mpirun).
// Transport is the only thing that knows about MPI (nas/distributed.cpp includes mpi.h when
// hwnas is built with MPI); the engine and the pipeline see WorkerPool (rank 0) and serveRequests
// (the other ranks). Rank 0 owns search.db, the strategy and every file in DIR; workers get
// what they need in messages (the supernet folder's files, architectures, model YAML) and send
// results back (accuracies; trained weights and metrics). Invariant: a result never depends on
// which rank computed it (every evaluation is a pure function of its inputs and the seed), so a
// run with N ranks gives the same results as one process.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json_util.h"
#include "search_spaces/arch_config.h"

namespace hwnas {

// A message: a JSON head and binary blobs (file contents), framed into one byte string.
struct Message {
  Json head = Json::object();
  std::vector<std::string> blobs;
  std::string encode() const;
  static Message decode(const std::string& bytes);  // Error on a malformed frame
};

// Point-to-point byte messages between ranks; rank 0 is the coordinator.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual void send(int to, const std::string& bytes) = 0;
  virtual std::string recv(int from) = 0;  // blocks until a message from `from` arrives
  [[noreturn]] virtual void abort(int exitCode) = 0;  // ends every rank (an error on one of them)
};

// True when this build has the MPI transport (CMake found MPI).
bool builtWithMpi();
// The MPI transport when this process was started by mpirun / mpiexec (OpenMPI or PMIx
// environment) and hwnas was built with MPI; null otherwise (one process, nothing changes).
// Initialises MPI (finalised when the transport is destroyed).
std::unique_ptr<Transport> makeMpiTransport(int* argc, char*** argv);

// Rank 0's side: hands work to ranks 1..size-1 and takes part itself.
class WorkerPool {
 public:
  explicit WorkerPool(Transport& transport);
  ~WorkerPool();  // shutdown() if not done
  int size() const { return transport_.size(); }

  // Sends the files at the top level of a supernet folder to every worker, which opens its copy
  // as the supernet accuracy source (waits for every worker's acknowledgement).
  void bindSupernet(const std::string& folder);
  // Accuracy of each arch: arch i is evaluated by rank i % size (rank 0 with `local`, the share
  // of rank 0 in parallel), results in the order of `archs`.
  std::vector<double> accuracies(const std::vector<ArchConfig>& archs,
                                 const std::function<std::vector<double>(const std::vector<ArchConfig>&)>& local);
  // One request to one worker and, later, its reply (every request gets exactly one, in the
  // order sent to that worker); a worker's error comes back as an Error naming the rank.
  void request(int rank, const Message& m);
  Message reply(int rank);
  // Tells every worker to exit (once).
  void shutdown();

 private:
  Transport& transport_;
  bool down_ = false;
};

// A worker's side: answers rank 0's requests with `handle` until told to exit ({"op": "exit"}).
// An exception in `handle` is sent back as the reply {"error": message} and serving goes on.
void serveRequests(Transport& transport, const std::function<Message(const Message&)>& handle);

}  // namespace hwnas
