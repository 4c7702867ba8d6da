// OperationManager (server/operations.h) against a real store, with test
// jobs: progress, cancel, the queue limit, request_id repeats across a
// restart, column reservations, retention and restart recovery.
#include "server/operations.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "server/operation_service.h"
#include "tests/server/store_fixture.h"

namespace winnow::server {
namespace {

using winnow::v1::Operation;

// A job that counts to `total` in steps, waiting for `gate` (if set) after
// the first step, and "writes" its result into `written` only on success,
// as a scorer makes its scores visible only at the end.
struct CountingJob {
  int64_t total = 100;
  absl::Notification* gate = nullptr;
  absl::Notification* started = nullptr;
  std::map<std::string, int>* written = nullptr;
  std::string key = "job";

  absl::Status operator()(JobContext& job, Operation*) const {
    job.SetTotal(total, "documents");
    for (int64_t i = 1; i <= total; ++i) {
      if (job.Cancelled()) return absl::CancelledError("stopped");
      job.SetPhase("counting");
      job.SetDone(i);
      if (i == 1) {
        if (started != nullptr) started->Notify();
        if (gate != nullptr) {
          while (!gate->WaitForNotificationWithTimeout(absl::Milliseconds(5))) {
            if (job.Cancelled()) return absl::CancelledError("stopped");
          }
        }
      }
    }
    if (written != nullptr) ++(*written)[key];
    return absl::OkStatus();
  }
};

class OperationsTest : public testing::StoreTest {
 protected:
  OperationsTest() : StoreTest("c") {}

  std::unique_ptr<OperationManager> Make(OperationOptions options = {}) {
    auto manager = std::make_unique<OperationManager>(store_.get(), options,
                                                      /*metrics=*/nullptr);
    EXPECT_TRUE(manager->Init().ok());
    return manager;
  }

  static JobSpec Spec(CountingJob job, std::string collection = "c") {
    JobSpec spec;
    spec.kind = winnow::v1::OPERATION_KIND_COMPUTE_SCORES;
    spec.collection = std::move(collection);
    spec.run = job;
    return spec;
  }

  // Reopens the store, as a restart does.
  void Reopen() {
    ASSERT_TRUE(store_->Close().ok());
    store_.reset();
    storage::StoreOptions options;
    options.data_dir = root_ + "/data";
    auto store = storage::Store::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
};

TEST_F(OperationsTest, ProgressIsMonotoneAndEndsAtOne) {
  auto ops = Make();
  absl::Notification gate, started;
  CountingJob job{.total = 1000, .gate = &gate, .started = &started};
  absl::StatusOr<Operation> op = ops->Start(Spec(job));
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_EQ(op->state(), winnow::v1::OPERATION_STATE_PENDING);
  EXPECT_TRUE(op->operation_id().starts_with("op-"));
  started.WaitForNotification();
  absl::StatusOr<Operation> mid = ops->Get(op->operation_id());
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->state(), winnow::v1::OPERATION_STATE_RUNNING);
  EXPECT_EQ(mid->items_total(), 1000);
  EXPECT_EQ(mid->item_unit(), "documents");
  EXPECT_GE(mid->items_done(), 1);
  EXPECT_TRUE(mid->has_start_time());
  gate.Notify();
  double last = 0;
  int64_t last_done = 0;
  Operation now;
  do {
    now = *ops->Get(op->operation_id());
    EXPECT_GE(now.progress_fraction(), last);
    EXPECT_GE(now.items_done(), last_done);
    last = now.progress_fraction();
    last_done = now.items_done();
  } while (!now.done());
  EXPECT_EQ(now.state(), winnow::v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_EQ(now.progress_fraction(), 1.0);
  EXPECT_EQ(now.items_done(), 1000);
  EXPECT_TRUE(now.has_end_time());
}

TEST_F(OperationsTest, CancelMidJobLeavesNothing) {
  auto ops = Make();
  absl::Notification gate, started;
  std::map<std::string, int> written;
  CountingJob job{.gate = &gate, .started = &started, .written = &written};
  Operation op = *ops->Start(Spec(job));
  started.WaitForNotification();
  absl::StatusOr<Operation> after = ops->Cancel(op.operation_id());
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->cancel_requested() || after->done());
  Operation end = *ops->WaitDone(op.operation_id(), absl::Seconds(30));
  EXPECT_EQ(end.state(), winnow::v1::OPERATION_STATE_CANCELLED);
  EXPECT_EQ(end.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_FALSE(end.cancel_requested());
  EXPECT_TRUE(written.empty());
  // Cancelling a finished operation changes nothing.
  EXPECT_EQ(ops->Cancel(op.operation_id())->state(),
            winnow::v1::OPERATION_STATE_CANCELLED);
  EXPECT_TRUE(absl::IsNotFound(ops->Cancel("op-nope").status()));
}

TEST_F(OperationsTest, QueueLimitRefusesOneMore) {
  OperationOptions options;
  options.threads = 1;
  options.max_queued = 2;
  auto ops = Make(options);
  absl::Notification gate, started;
  CountingJob blocking{.gate = &gate, .started = &started};
  Operation first = *ops->Start(Spec(blocking));
  started.WaitForNotification();
  std::vector<Operation> queued;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Operation> op = ops->Start(Spec(CountingJob{.total = 3}));
    ASSERT_TRUE(op.ok()) << op.status();
    queued.push_back(*op);
  }
  absl::StatusOr<Operation> over = ops->Start(Spec(CountingJob{.total = 3}));
  ASSERT_TRUE(absl::IsResourceExhausted(over.status())) << over.status();
  EXPECT_NE(over.status().message().find("max_queued_operations"),
            std::string::npos);
  // A pending job cancelled ends at once and frees its place.
  EXPECT_EQ(ops->Cancel(queued[0].operation_id())->state(),
            winnow::v1::OPERATION_STATE_CANCELLED);
  EXPECT_TRUE(ops->Start(Spec(CountingJob{.total = 3})).ok());
  gate.Notify();
  EXPECT_EQ(ops->WaitDone(first.operation_id(), absl::Seconds(30))->state(),
            winnow::v1::OPERATION_STATE_SUCCEEDED);
}

TEST_F(OperationsTest, RequestIdRepeatReturnsTheSameOperationAfterRestart) {
  std::map<std::string, int> written;
  std::string id;
  {
    auto ops = Make();
    JobSpec spec = Spec(CountingJob{.total = 5, .written = &written});
    spec.request_id = "req-1";
    id = ops->Start(spec)->operation_id();
    EXPECT_EQ(ops->Start(spec)->operation_id(), id);
    EXPECT_EQ(ops->WaitDone(id, absl::Seconds(30))->state(),
              winnow::v1::OPERATION_STATE_SUCCEEDED);
    // Another request_id, or another collection, starts another job.
    spec.request_id = "req-2";
    EXPECT_NE(ops->Start(spec)->operation_id(), id);
    ops->Shutdown();
  }
  Reopen();
  auto ops = Make();
  JobSpec spec = Spec(CountingJob{.total = 5, .written = &written});
  spec.request_id = "req-1";
  absl::StatusOr<Operation> again = ops->Start(spec);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->operation_id(), id);
  EXPECT_EQ(again->state(), winnow::v1::OPERATION_STATE_SUCCEEDED);
  ops->Shutdown();
  EXPECT_LE(written["job"], 2);  // req-1 ran once, req-2 at most once
}

TEST_F(OperationsTest, SecondWriterOfAColumnIsRefusedWhileTheFirstRuns) {
  auto ops = Make();
  absl::Notification gate, started;
  JobSpec first = Spec(CountingJob{.gate = &gate, .started = &started});
  first.columns = {{"c", "cluster"}, {"c", "distance"}};
  Operation op = *ops->Start(first);
  started.WaitForNotification();
  JobSpec second = Spec(CountingJob{.total = 2});
  second.columns = {{"c", "distance"}};
  absl::StatusOr<Operation> refused = ops->Start(second);
  ASSERT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("'distance'"), std::string::npos);
  EXPECT_NE(refused.status().message().find(op.operation_id()),
            std::string::npos);
  // Another column, or the same name in another collection, is free.
  JobSpec other = Spec(CountingJob{.total = 2}, "d");
  other.columns = {{"d", "distance"}};
  EXPECT_TRUE(ops->Start(other).ok());
  gate.Notify();
  ops->WaitDone(op.operation_id(), absl::Seconds(30)).IgnoreError();
  EXPECT_TRUE(ops->Start(second).ok());
}

TEST_F(OperationsTest, RestartMarksRunningAndPendingJobsFailed) {
  absl::Notification gate, started;
  std::string running, pending;
  {
    auto ops = Make();
    running = ops->Start(Spec(CountingJob{.gate = &gate, .started = &started}))
                  ->operation_id();
    pending = ops->Start(Spec(CountingJob{.total = 2}))->operation_id();
    started.WaitForNotification();
    // What a SIGKILL leaves: the records as they were persisted. Copy the
    // store's records now, before Shutdown ends the job.
    auto records = store_->ListOperationRecords();
    ASSERT_TRUE(records.ok());
    gate.Notify();
    ops->Shutdown();
    for (const auto& [id, record] : *records) {
      ASSERT_TRUE(store_->PutOperationRecord(id, record).ok());
    }
  }
  Reopen();
  auto ops = Make();
  for (const std::string& id : {running, pending}) {
    absl::StatusOr<Operation> op = ops->Get(id);
    ASSERT_TRUE(op.ok()) << id;
    EXPECT_EQ(op->state(), winnow::v1::OPERATION_STATE_FAILED) << id;
    EXPECT_TRUE(op->done());
    EXPECT_EQ(op->error().code(),
              static_cast<int>(absl::StatusCode::kUnavailable));
    EXPECT_NE(op->error().message().find("restarted"), std::string::npos);
  }
  // And it stays so: the change was persisted.
  ops->Shutdown();
  ops.reset();
  Reopen();
  EXPECT_EQ(Make()->Get(running)->state(), winnow::v1::OPERATION_STATE_FAILED);
}

TEST_F(OperationsTest, RetentionPrunesFinishedRecords) {
  OperationOptions options;
  options.retention = absl::Milliseconds(200);
  auto ops = Make(options);
  absl::Notification gate, started;
  std::string done_id =
      ops->Start(Spec(CountingJob{.total = 2}))->operation_id();
  ops->WaitDone(done_id, absl::Seconds(30)).IgnoreError();
  std::string live_id =
      ops->Start(Spec(CountingJob{.gate = &gate, .started = &started}))
          ->operation_id();
  started.WaitForNotification();
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(ops->PruneNow(), 1);
  EXPECT_TRUE(absl::IsNotFound(ops->Get(done_id).status()));
  EXPECT_TRUE(ops->Get(live_id).ok());  // running: never pruned
  auto records = store_->ListOperationRecords();
  ASSERT_TRUE(records.ok());
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].first, live_id);
  gate.Notify();
}

TEST_F(OperationsTest, CancelCollectionStopsOnlyItsJobs) {
  auto ops = Make();
  absl::Notification gate, started;
  std::string in_c =
      ops->Start(Spec(CountingJob{.gate = &gate, .started = &started}))
          ->operation_id();
  started.WaitForNotification();
  std::string in_d =
      ops->Start(Spec(CountingJob{.total = 2}, "d"))->operation_id();
  ops->CancelCollection("c");
  Operation c = *ops->WaitDone(in_c, absl::Seconds(30));
  EXPECT_EQ(c.state(), winnow::v1::OPERATION_STATE_CANCELLED);
  EXPECT_NE(c.error().message().find("deleted"), std::string::npos);
  EXPECT_EQ(ops->WaitDone(in_d, absl::Seconds(30))->state(),
            winnow::v1::OPERATION_STATE_SUCCEEDED);
}

TEST_F(OperationsTest, ListIsNewestFirstAndAFailedJobKeepsItsError) {
  auto ops = Make();
  JobSpec failing;
  failing.kind = winnow::v1::OPERATION_KIND_BACKUP;
  failing.run = [](JobContext&, Operation*) {
    return absl::ResourceExhaustedError("disk full");
  };
  std::string a = ops->Start(failing)->operation_id();
  absl::SleepFor(absl::Milliseconds(2));
  std::string b = ops->Start(Spec(CountingJob{.total = 2}))->operation_id();
  Operation failed = *ops->WaitDone(a, absl::Seconds(30));
  EXPECT_EQ(failed.state(), winnow::v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(failed.error().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(failed.error().message(), "disk full");
  std::vector<Operation> all = ops->List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].operation_id(), b);
  EXPECT_EQ(all[1].operation_id(), a);
}

TEST_F(OperationsTest, ALimitedTokenSeesOnlyItsCollectionsOperations) {
  auto ops = Make();
  std::string web =
      ops->Start(Spec(CountingJob{.total = 2}, "web-a"))->operation_id();
  std::string books =
      ops->Start(Spec(CountingJob{.total = 2}, "books"))->operation_id();
  JobSpec backup;
  backup.kind = winnow::v1::OPERATION_KIND_BACKUP;
  backup.run = [](JobContext&, Operation*) { return absl::OkStatus(); };
  std::string server_wide = ops->Start(backup)->operation_id();
  Principal limited;
  limited.role = Role::kWriter;
  limited.collections = "web-*";
  const Principal unlimited;
  EXPECT_TRUE(FindVisibleOperation(*ops, limited, web).ok());
  for (const std::string& id : {books, server_wide}) {
    absl::Status s = FindVisibleOperation(*ops, limited, id).status();
    EXPECT_TRUE(absl::IsNotFound(s)) << s;
    EXPECT_NE(s.message().find("operation_id"), std::string::npos);
  }
  for (const std::string& id : {web, books, server_wide}) {
    EXPECT_TRUE(FindVisibleOperation(*ops, unlimited, id).ok()) << id;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(
      FindVisibleOperation(*ops, unlimited, "").status()));
}

}  // namespace
}  // namespace winnow::server
