#include "runtime/thread_pool.h"

namespace hwnas::runtime {

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::runTasks(int thread) {
  for (;;) {
    const int64_t t = next_.fetch_add(1, std::memory_order_relaxed);
    if (t >= tasks_) break;
    try {
      (*fn_)(t, thread);
    } catch (...) {
      std::lock_guard<std::mutex> lock(errorMutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
}

void ThreadPool::workerLoop(int thread) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int spin = 0; g == seen && spin < 4000; ++spin) {
      if (spin >= 64) std::this_thread::yield();
      g = generation_.load(std::memory_order_acquire);
    }
    std::unique_lock<std::mutex> lock(mutex_);
    if (g == seen) wake_.wait(lock, [&] { return generation_.load() != seen; });
    seen = generation_.load();
    if (stop_) return;
    if (!open_) continue;  // the call finished before this worker got here
    joined_.fetch_add(1, std::memory_order_relaxed);
    lock.unlock();
    runTasks(thread);
    joined_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallelFor(int64_t tasks, const TaskFn& fn) {
  if (tasks <= 0) return;
  if (workers_.empty() || tasks == 1) {
    for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    fn_ = &fn;
    tasks_ = tasks;
    error_ = nullptr;
    next_.store(0, std::memory_order_relaxed);
    open_ = true;
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  wake_.notify_all();
  runTasks(0);
  {
    // No new worker joins after this; wait for those inside to finish their tasks.
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
  }
  for (int spin = 0; joined_.load(std::memory_order_acquire) != 0; ++spin)
    if (spin >= 64) std::this_thread::yield();
  fn_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

}  // namespace hwnas::runtime
