#include "nas/distributed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "core/fs_util.h"

#ifdef HWNAS_WITH_MPI
#include <mpi.h>
#endif

namespace fs = std::filesystem;

namespace hwnas {

// ------------------------------------------------------------------ framing

namespace {

void putU64(std::string& s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s.push_back(char((v >> (8 * i)) & 0xff));
}

uint64_t getU64(const std::string& s, size_t& pos) {
  if (pos + 8 > s.size()) throw Error("distributed: truncated message");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t(uint8_t(s[pos + size_t(i)])) << (8 * i);
  pos += 8;
  return v;
}

std::string getBytes(const std::string& s, size_t& pos) {
  const uint64_t n = getU64(s, pos);
  if (n > s.size() - pos) throw Error("distributed: truncated message");
  std::string b = s.substr(pos, size_t(n));
  pos += size_t(n);
  return b;
}

}  // namespace

std::string Message::encode() const {
  std::string s;
  const std::string h = head.dump();
  putU64(s, h.size());
  s += h;
  putU64(s, blobs.size());
  for (const auto& b : blobs) {
    putU64(s, b.size());
    s += b;
  }
  return s;
}

Message Message::decode(const std::string& bytes) {
  Message m;
  size_t pos = 0;
  m.head = parseJson(getBytes(bytes, pos));
  const uint64_t n = getU64(bytes, pos);
  for (uint64_t i = 0; i < n; ++i) m.blobs.push_back(getBytes(bytes, pos));
  if (pos != bytes.size()) throw Error("distributed: trailing bytes in a message");
  return m;
}

// ------------------------------------------------------------------ MPI transport

#ifdef HWNAS_WITH_MPI
namespace {

class MpiTransport : public Transport {
 public:
  MpiTransport(int* argc, char*** argv) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);  // only the main thread calls MPI
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiTransport() override { MPI_Finalize(); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  // Size first (8 bytes), then the bytes in chunks below INT_MAX. Waiting polls with short
  // sleeps instead of MPI's blocking calls, which spin a core at 100 %: a rank waiting for a
  // result would otherwise take a core from the ranks computing it.
  void send(int to, const std::string& bytes) override {
    uint64_t n = bytes.size();
    MPI_Request rq;
    MPI_Isend(&n, 1, MPI_UINT64_T, to, kTag, MPI_COMM_WORLD, &rq);
    wait(rq);
    for (uint64_t off = 0; off < n; off += kChunk) {
      const int len = int(std::min<uint64_t>(kChunk, n - off));
      MPI_Isend(bytes.data() + off, len, MPI_BYTE, to, kTag, MPI_COMM_WORLD, &rq);
      wait(rq);
    }
  }
  std::string recv(int from) override {
    uint64_t n = 0;
    MPI_Request rq;
    MPI_Irecv(&n, 1, MPI_UINT64_T, from, kTag, MPI_COMM_WORLD, &rq);
    wait(rq);
    std::string s(size_t(n), '\0');
    for (uint64_t off = 0; off < n; off += kChunk) {
      const int len = int(std::min<uint64_t>(kChunk, n - off));
      MPI_Irecv(s.data() + off, len, MPI_BYTE, from, kTag, MPI_COMM_WORLD, &rq);
      wait(rq);
    }
    return s;
  }
  [[noreturn]] void abort(int exitCode) override {
    MPI_Abort(MPI_COMM_WORLD, exitCode);
    std::_Exit(exitCode);
  }

 private:
  // MPI_Test with sleeps growing from 50 us to 5 ms (a long wait costs at most 5 ms of latency).
  static void wait(MPI_Request& rq) {
    int done = 0;
    MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
    for (int us = 50; !done; us = std::min(us * 2, 5000)) {
      std::this_thread::sleep_for(std::chrono::microseconds(us));
      MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
    }
  }
  static constexpr int kTag = 7;
  static constexpr uint64_t kChunk = uint64_t(1) << 30;
  int rank_ = 0, size_ = 1;
};

}  // namespace
#endif

bool builtWithMpi() {
#ifdef HWNAS_WITH_MPI
  return true;
#else
  return false;
#endif
}

std::unique_ptr<Transport> makeMpiTransport(int* argc, char*** argv) {
#ifdef HWNAS_WITH_MPI
  // Only under a launcher: a plain run never initialises MPI (no singleton start-up).
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return std::make_unique<MpiTransport>(argc, argv);
#else
  (void)argc;
  (void)argv;
#endif
  return nullptr;
}

// ------------------------------------------------------------------ rank 0

WorkerPool::WorkerPool(Transport& transport) : transport_(transport) {}

WorkerPool::~WorkerPool() {
  try {
    shutdown();
  } catch (...) {
  }
}

void WorkerPool::request(int rank, const Message& m) { transport_.send(rank, m.encode()); }

Message WorkerPool::reply(int rank) {
  Message m = Message::decode(transport_.recv(rank));
  if (m.head.contains("error"))
    throw Error("rank " + std::to_string(rank) + ": " + m.head["error"].get<std::string>());
  return m;
}

void WorkerPool::bindSupernet(const std::string& folder) {
  Message m;
  m.head["op"] = "supernet";
  Json names = Json::array();
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(folder))
    if (e.is_regular_file()) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    names.push_back(f);
    m.blobs.push_back(readFile((fs::path(folder) / f).string()));
  }
  m.head["files"] = names;
  for (int r = 1; r < size(); ++r) request(r, m);
  for (int r = 1; r < size(); ++r) reply(r);
}

std::vector<double> WorkerPool::accuracies(
    const std::vector<ArchConfig>& archs, const std::function<std::vector<double>(const std::vector<ArchConfig>&)>& local) {
  const int n = size();
  std::vector<std::vector<size_t>> share(static_cast<size_t>(n));
  for (size_t i = 0; i < archs.size(); ++i) share[i % size_t(n)].push_back(i);
  for (int r = 1; r < n; ++r) {
    if (share[size_t(r)].empty()) continue;
    Message m;
    m.head["op"] = "accuracy";
    Json a = Json::array();
    for (size_t i : share[size_t(r)]) a.push_back(archs[i].json());
    m.head["archs"] = a;
    request(r, m);
  }
  std::vector<double> out(archs.size(), 0.0);
  std::vector<ArchConfig> mine;
  for (size_t i : share[0]) mine.push_back(archs[i]);
  const std::vector<double> own = local(mine);
  for (size_t k = 0; k < share[0].size(); ++k) out[share[0][k]] = own[k];
  for (int r = 1; r < n; ++r) {
    if (share[size_t(r)].empty()) continue;
    const Json acc = reply(r).head.at("accuracies");
    if (acc.size() != share[size_t(r)].size()) throw Error("rank " + std::to_string(r) + ": wrong number of accuracies");
    // Doubles travel as JSON numbers: nlohmann prints the shortest round-trip form, so they
    // arrive bit-identical.
    for (size_t k = 0; k < acc.size(); ++k) out[share[size_t(r)][k]] = acc[k].get<double>();
  }
  return out;
}

void WorkerPool::shutdown() {
  if (down_) return;
  down_ = true;
  Message m;
  m.head["op"] = "exit";
  for (int r = 1; r < size(); ++r) request(r, m);
}

// ------------------------------------------------------------------ workers

void serveRequests(Transport& transport, const std::function<Message(const Message&)>& handle) {
  for (;;) {
    Message m = Message::decode(transport.recv(0));
    if (m.head.value("op", std::string()) == "exit") return;
    Message r;
    try {
      r = handle(m);
    } catch (const std::exception& e) {
      r = Message();
      r.head["error"] = e.what();
    }
    transport.send(0, r.encode());
  }
}

}  // namespace hwnas
