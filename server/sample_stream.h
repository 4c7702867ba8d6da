// SampleStream: SelectionService.Sample (selection.proto, docs/sampling.md).
//
// A stream first resolves its plan: from a cursor (decoded and verified by
// the registry's CursorCodec; its plan must still exist, be of the request's
// collection and have a reproducible sampler version), from plan_id, or by
// the request's plan fields (found, or frozen and persisted by
// PlanRegistry). It then reads the plan's global batches that belong to
// its rank: from start batch s (the cursor's, else 0) with world size W,
// rank r gets s + r, s + r + W, ... (selection/batches.h RankSchedule),
// epoch after epoch until the plan's epochs or max_batches are done.
//
// Each batch maps the plan's frozen candidates to ids, domains and current
// scores under a fresh short snapshot, with frozen lengths, and marks
// documents deleted or replaced since the freeze (guarantee 4). Every
// response carries the plan id and the cursor after its batch: (plan,
// epoch, next global batch), where the next global batch assumes every rank
// has consumed as many batches as this one, so it is the same on every rank.
//
// A batch is never split: one whose message would pass the message size
// limit ends the stream with RESOURCE_EXHAUSTED naming the fields to change.
// Flow control and cancellation come from StreamReactor: one outstanding
// write, and a cancelled or expired call stops at its next step.
//
// Thread safety: see stream_reactor.h; the plan serializes its generator.
#ifndef WINNOW_SERVER_SAMPLE_STREAM_H_
#define WINNOW_SERVER_SAMPLE_STREAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "selection/batches.h"
#include "server/metrics.h"
#include "server/plans.h"
#include "server/stream_reactor.h"
#include "server/validation.h"
#include "winnow/v1/selection.pb.h"

namespace winnow::server {

class SampleStream final : public StreamReactor<winnow::v1::SampleResponse> {
 public:
  // `request` is owned by gRPC and valid until OnDone.
  SampleStream(grpc::CallbackServerContext* context, ServiceEnv& env,
               const winnow::v1::SampleRequest* request);
  ~SampleStream() override;

 private:
  absl::StatusOr<bool> Produce(winnow::v1::SampleResponse* out) override;
  // Validates the request, resolves the plan and the start position.
  absl::Status Start();
  // Opens epoch_ from global batch `start`; false if it gives this rank
  // no batch.
  absl::StatusOr<bool> OpenEpoch(uint64_t start);
  // Fills *out and counts its documents per domain into *served.
  absl::Status FillBatch(const Batch& batch, winnow::v1::SampleBatch* out,
                         std::vector<Metrics::DomainCount>* served);
  // The FULL view: the documents, read from the store.
  absl::Status FillDocuments(const Batch& batch,
                             std::span<const uint32_t> ordinals,
                             std::span<const uint32_t> lengths,
                             winnow::v1::SampleBatch* out,
                             std::vector<Metrics::DomainCount>* served);
  // The IDS, ORDINALS and PACKED views: columns of the collection's
  // snapshot.
  absl::Status FillColumns(std::span<const uint32_t> ordinals,
                           std::span<const uint32_t> lengths,
                           winnow::v1::SampleBatch* out,
                           std::vector<Metrics::DomainCount>* served);
  // Served documents per domain and padding, to the metrics; for mixture
  // plans the target shares and the epoch's drift.
  void RecordMetrics(const Batch& batch, const winnow::v1::SampleBatch& out,
                     std::span<const Metrics::DomainCount> served);
  absl::StatusOr<bool> CheckSize(
      const winnow::v1::SampleResponse& response) const;

  const winnow::v1::SampleRequest* const request_;
  SampleParams params_;
  bool started_ = false;
  bool first_message_ = true;
  std::shared_ptr<Plan> plan_;
  uint64_t epoch_ = 0;
  uint64_t epoch_batches_ = 0;  // global batches of epoch_ (after drops)
  std::optional<RankSchedule> schedule_;
  uint64_t served_in_epoch_ = 0;
  uint64_t served_ = 0;
};

}  // namespace winnow::server

#endif  // WINNOW_SERVER_SAMPLE_STREAM_H_
