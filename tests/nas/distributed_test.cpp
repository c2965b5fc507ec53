// nas/distributed without MPI: Message framing (round trip of head and binary blobs, truncated
// or padded frames refused), and WorkerPool + serveRequests over an in-process Transport with
// one thread per rank: accuracies() spreads arch i to rank i % size and returns every result in
// the archs' order, bit-identical to evaluating all locally; bindSupernet() delivers the
// folder's files; a worker's error comes back as an Error naming its rank; shutdown() ends the
// workers.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "core/fs_util.h"
#include "nas/distributed.h"

using namespace hwnas;

namespace {

// Queues between every pair of ranks, shared by the per-rank Transport views.
struct Wires {
  std::mutex m;
  std::condition_variable cv;
  std::map<std::pair<int, int>, std::deque<std::string>> q;  // (from, to) -> messages
};

class LoopbackTransport : public Transport {
 public:
  LoopbackTransport(Wires& w, int rank, int size) : w_(w), rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void send(int to, const std::string& bytes) override {
    std::lock_guard<std::mutex> l(w_.m);
    w_.q[{rank_, to}].push_back(bytes);
    w_.cv.notify_all();
  }
  std::string recv(int from) override {
    std::unique_lock<std::mutex> l(w_.m);
    auto& d = w_.q[{from, rank_}];
    w_.cv.wait(l, [&] { return !d.empty(); });
    std::string s = std::move(d.front());
    d.pop_front();
    return s;
  }
  [[noreturn]] void abort(int) override { std::abort(); }

 private:
  Wires& w_;
  int rank_, size_;
};

// A pure function of the arch, with digits that a lossy double transfer would lose.
double fakeAccuracy(const ArchConfig& a) { return double(a.hash() % 100000) / 1000.0 + 1.0 / 3.0; }

ArchConfig arch(int i) { return ArchConfig(Json{{"k", i}, {"name", "a" + std::to_string(i)}}); }

}  // namespace

TEST(Distributed, MessageRoundTripAndBadFrames) {
  Message m;
  m.head = {{"op", "train"}, {"x", 0.1 + 0.2}};
  m.blobs = {std::string("\0\1\2binary", 9), "", std::string(70000, 'z')};
  const std::string bytes = m.encode();
  const Message back = Message::decode(bytes);
  EXPECT_EQ(back.head, m.head);
  EXPECT_EQ(back.head["x"].get<double>(), 0.1 + 0.2);  // bit-exact double
  ASSERT_EQ(back.blobs.size(), 3u);
  EXPECT_EQ(back.blobs[0], m.blobs[0]);
  EXPECT_EQ(back.blobs[1], "");
  EXPECT_EQ(back.blobs[2], m.blobs[2]);
  EXPECT_THROW(Message::decode(bytes.substr(0, bytes.size() - 1)), Error);
  EXPECT_THROW(Message::decode(bytes + "x"), Error);
  EXPECT_THROW(Message::decode(std::string(5, '\0')), Error);
}

TEST(Distributed, WorkerPoolSpreadsArchsAndKeepsTheirOrder) {
  const int size = 3;
  Wires w;
  std::vector<LoopbackTransport> views;
  views.reserve(size);
  for (int r = 0; r < size; ++r) views.emplace_back(w, r, size);
  std::mutex seenMutex;
  std::map<int, std::vector<int>> evaluatedBy;  // rank -> the "k" of each arch it evaluated
  std::map<int, std::vector<std::string>> filesAt;
  std::vector<std::thread> workers;
  for (int r = 1; r < size; ++r)
    workers.emplace_back([&, r] {
      serveRequests(views[size_t(r)], [&, r](const Message& m) {
        Message out;
        const std::string op = m.head["op"].get<std::string>();
        if (op == "supernet") {
          std::lock_guard<std::mutex> l(seenMutex);
          for (size_t i = 0; i < m.blobs.size(); ++i)
            filesAt[r].push_back(m.head["files"][i].get<std::string>() + "=" + m.blobs[i]);
          return out;
        }
        if (op == "fail") throw InputError("no such thing");
        Json acc = Json::array();
        for (const auto& a : m.head["archs"]) {
          acc.push_back(fakeAccuracy(ArchConfig(a)));
          std::lock_guard<std::mutex> l(seenMutex);
          evaluatedBy[r].push_back(a["k"].get<int>());
        }
        out.head["accuracies"] = acc;
        return out;
      });
    });
  {
    WorkerPool pool(views[0]);
    EXPECT_EQ(pool.size(), 3);
    TempDir dir;
    writeFileAtomic(dir.file("supernet.json"), "{}");
    writeFileAtomic(dir.file("w.bin"), std::string("\0w", 2));
    pool.bindSupernet(dir.path());

    std::vector<ArchConfig> archs;
    for (int i = 0; i < 8; ++i) archs.push_back(arch(i));
    std::vector<int> local;
    auto here = [&](const std::vector<ArchConfig>& mine) {
      std::vector<double> v;
      for (const auto& a : mine) {
        v.push_back(fakeAccuracy(a));
        local.push_back(a.json()["k"].get<int>());
      }
      return v;
    };
    const std::vector<double> acc = pool.accuracies(archs, here);
    ASSERT_EQ(acc.size(), 8u);
    for (size_t i = 0; i < archs.size(); ++i) EXPECT_EQ(acc[i], fakeAccuracy(archs[i])) << i;  // exact
    EXPECT_EQ(local, (std::vector<int>{0, 3, 6}));
    // Fewer archs than ranks: rank 2 gets nothing and is not asked.
    EXPECT_EQ(pool.accuracies({arch(20)}, here), std::vector<double>{fakeAccuracy(arch(20))});

    Message bad;
    bad.head["op"] = "fail";
    pool.request(2, bad);
    try {
      pool.reply(2);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("rank 2: no such thing"), std::string::npos) << e.what();
    }
    pool.shutdown();
  }
  for (auto& t : workers) t.join();  // returned: shutdown() reached both
  EXPECT_EQ(evaluatedBy[1], (std::vector<int>{1, 4, 7}));
  EXPECT_EQ(evaluatedBy[2], (std::vector<int>{2, 5}));
  const std::vector<std::string> files = {"supernet.json={}", std::string("w.bin=\0w", 8)};
  EXPECT_EQ(filesAt[1], files);
  EXPECT_EQ(filesAt[2], files);
}
