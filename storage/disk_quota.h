// DiskQuota: a test hook that makes a Store's disk "fill up" (a full disk is
// RESOURCE_EXHAUSTED, reads keep working, and writes recover when space
// returns: docs/operations.md, "Durability").
//
// When StoreOptions::disk_quota is set, the Store opens RocksDB through a
// FileSystem wrapper (quota_file_system.h) that counts the bytes of every
// file the Store writes and still keeps, and fails a write that would take
// that count past limit() exactly as a full disk does (an I/O error with
// RocksDB's "no space" subcode, which the Store reports as
// RESOURCE_EXHAUSTED). Raising the limit is "space returns": the next write
// resumes RocksDB and succeeds. Files that existed before the Store opened
// are not counted.
//
//   auto quota = std::make_shared<storage::DiskQuota>(8 << 20);
//   StoreOptions options;
//   options.disk_quota = quota;
//   ...writes fail with RESOURCE_EXHAUSTED past 8 MiB...
//   quota->set_limit(UINT64_MAX);  // writes succeed again
//
// Thread safety: thread-safe; the Store's threads and the test's share it.
#ifndef WINNOW_STORAGE_DISK_QUOTA_H_
#define WINNOW_STORAGE_DISK_QUOTA_H_

#include <atomic>
#include <cstdint>

namespace winnow::storage {

class DiskQuota {
 public:
  explicit DiskQuota(uint64_t limit_bytes) : limit_(limit_bytes) {}
  DiskQuota(const DiskQuota&) = delete;
  DiskQuota& operator=(const DiskQuota&) = delete;

  uint64_t limit() const { return limit_.load(std::memory_order_acquire); }
  void set_limit(uint64_t limit_bytes) {
    limit_.store(limit_bytes, std::memory_order_release);
  }

  // Bytes counted against the quota now.
  uint64_t used() const { return used_.load(std::memory_order_acquire); }
  // Writes refused so far (each a "no space" error handed to RocksDB).
  uint64_t refusals() const {
    return refusals_.load(std::memory_order_acquire);
  }

  // Counts `bytes` more if that stays within the limit; false (and nothing
  // counted) otherwise.
  bool TryUse(uint64_t bytes) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (used + bytes > limit()) {
        refusals_.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    } while (!used_.compare_exchange_weak(used, used + bytes,
                                          std::memory_order_acq_rel));
    return true;
  }
  // Uncounts `bytes` (a file shrank or was deleted).
  void Release(uint64_t bytes) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    uint64_t next;
    do {
      next = used > bytes ? used - bytes : 0;
    } while (
        !used_.compare_exchange_weak(used, next, std::memory_order_acq_rel));
  }

 private:
  std::atomic<uint64_t> limit_;
  std::atomic<uint64_t> used_{0};
  std::atomic<uint64_t> refusals_{0};
};

}  // namespace winnow::storage

#endif  // WINNOW_STORAGE_DISK_QUOTA_H_
