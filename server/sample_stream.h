// SampleStream: SelectionService.Sample (selection.proto) for the uniform
// and weighted strategies, before plans and cursors exist.
//
// Candidate freezing: at the start of the stream the filter is evaluated
// under one snapshot, and the candidates' ordinals, id hashes, lengths and
// (for weighted) weights are copied out; the snapshot is then released.
// From there the stream is a pure function of that frozen set and the
// request: epoch e is KeyedOrder(candidates, seed, e) (selection/sampler.h),
// cut into global batches and dealt to ranks by RankSchedule
// (selection/batches.h). Every rank of a run that sends the same request
// over the same data therefore gets disjoint batches of one global
// sequence. Each batch maps its ordinals to ids, domains and scores under a
// fresh short snapshot, and marks documents deleted or replaced since the
// freeze (design §4 guarantee 4), with their frozen lengths. A stream over
// a collection deleted meanwhile ends with NOT_FOUND at its next batch.
//
// A batch is never split (batch boundaries are part of the guarantees): a
// batch whose message would pass the message size limit ends the stream
// with RESOURCE_EXHAUSTED naming the request fields to change.
//
// Responses carry no plan_id and no cursor yet: the sampling issue adds
// durable plans and signed cursors.
//
// Thread safety: see stream_reactor.h.
#ifndef WINNOW_SERVER_SAMPLE_STREAM_H_
#define WINNOW_SERVER_SAMPLE_STREAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "selection/batches.h"
#include "selection/sampler.h"
#include "server/stream_reactor.h"
#include "server/validation.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

class SampleStream final : public StreamReactor<winnow::v1::SampleResponse> {
 public:
  // `request` is owned by gRPC and valid until OnDone.
  SampleStream(grpc::CallbackServerContext* context, ServiceEnv& env,
               const winnow::v1::SampleRequest* request);

 private:
  absl::StatusOr<bool> Produce(winnow::v1::SampleResponse* out) override;

  // Validates the request and freezes the candidates.
  absl::Status Start();
  // Opens epoch_'s order and schedule. False if the epoch gives this rank
  // no batch.
  absl::StatusOr<bool> OpenEpoch();
  absl::Status FillBatch(const GlobalBatch& batch,
                         winnow::v1::SampleBatch* out);
  // True if `response` fits the message size limit, else the
  // RESOURCE_EXHAUSTED that ends the stream.
  absl::StatusOr<bool> CheckSize(
      const winnow::v1::SampleResponse& response) const;

  const winnow::v1::SampleRequest* const request_;
  SampleParams params_;
  bool started_ = false;

  // The frozen candidate set; ordinals ascending, the rest aligned.
  std::vector<uint32_t> ordinals_;
  std::vector<uint64_t> id_hashes_;
  std::vector<double> weights_;  // empty for uniform
  // Every document's length at the freeze, indexed by ordinal: a deleted or
  // replaced document is served with the length it had then.
  std::vector<uint32_t> frozen_lengths_;
  uint64_t freeze_seq_ = 0;  // the collection's write_seq at the freeze
  uint32_t frozen_collection_id_ = 0;  // storage's id of the collection
  Candidates candidates_;

  // The current epoch.
  uint64_t epoch_ = 0;
  std::unique_ptr<KeyedOrder> order_;
  std::optional<RankSchedule> schedule_;
  std::unique_ptr<RankBatchStream> batches_;
  uint64_t served_in_epoch_ = 0;
  uint64_t served_ = 0;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SAMPLE_STREAM_H_
