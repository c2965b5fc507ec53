// ThreadPool: the runtime's own small pool (std::thread). parallelFor(tasks, fn) runs fn(t)
// for every task index exactly once; the caller's thread takes part. Work is split into tasks
// by the caller, never by the thread count, so results do not depend on how many threads run.
// A worker joins a call only while tasks are left, so a worker the OS has not scheduled never
// delays the caller (it matters on a shared machine); idle workers spin briefly, then sleep.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hwnas::runtime {

class ThreadPool {
 public:
  explicit ThreadPool(int threads = 1);  // threads >= 1 (the caller counts as one)
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return int(workers_.size()) + 1; }
  // Runs fn(task, thread) for task in 0..tasks-1, thread in 0..threads()-1 (for per-thread
  // scratch); blocks until all are done. The first exception from fn is rethrown here.
  using TaskFn = std::function<void(int64_t task, int thread)>;
  void parallelFor(int64_t tasks, const TaskFn& fn);

 private:
  void workerLoop(int thread);
  void runTasks(int thread);

  std::vector<std::thread> workers_;
  std::mutex mutex_;  // guards open_, joined_ changes from 0, fn_/tasks_ publication
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int64_t> next_{0};
  std::atomic<int> joined_{0};
  bool open_ = false;
  bool stop_ = false;
  int64_t tasks_ = 0;
  const TaskFn* fn_ = nullptr;
  std::exception_ptr error_;
  std::mutex errorMutex_;
};

}  // namespace hwnas::runtime
