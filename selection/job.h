// What a long job (a scorer, a backup) sees of the operation that runs it
// (docs/operations.md, "Operations"): a place to report progress and a way
// to learn that it should stop. The operations framework in server/
// implements it; jobs written against it stay free of gRPC.
#ifndef WINNOW_SELECTION_JOB_H_
#define WINNOW_SELECTION_JOB_H_

#include <cstdint>
#include <string>

namespace winnow {

class JobContext {
 public:
  virtual ~JobContext() = default;

  // What the job does now, for humans ("hashing payloads").
  virtual void SetPhase(std::string phase) = 0;
  // The work in all, in `unit` ("documents", "bytes"); 0 while unknown.
  virtual void SetTotal(int64_t items_total, std::string unit) = 0;
  // Work done so far (absolute, never decreasing).
  virtual void SetDone(int64_t items_done) = 0;
  // True once the operation was cancelled (CancelOperation, DeleteCollection
  // of its collection, server shutdown). A job checks it at least every
  // few hundred milliseconds of work and then returns CANCELLED without
  // making its partial results visible.
  virtual bool Cancelled() const = 0;
};

}  // namespace winnow

#endif  // WINNOW_SELECTION_JOB_H_
