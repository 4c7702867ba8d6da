#include "server/validation.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace winnow::server {
namespace {

using winnow::v1::ResultView;

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

}  // namespace

absl::Status RequireCollection(std::string_view name, std::string_view field) {
  if (name.empty()) {
    return Invalid(absl::StrCat(std::string(field), " must not be empty"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ResultView> ResolveView(int view) {
  if (!winnow::v1::ResultView_IsValid(view)) {
    return Invalid(absl::StrCat("view: unknown value ", view));
  }
  if (view == winnow::v1::RESULT_VIEW_UNSPECIFIED) {
    return winnow::v1::RESULT_VIEW_IDS;
  }
  return static_cast<ResultView>(view);
}

absl::StatusOr<DocumentMask> ParseReadMask(
    const google::protobuf::FieldMask& mask, std::string_view field) {
  DocumentMask result;
  if (mask.paths_size() == 0) return result;
  result = DocumentMask{false, false, false, false, false, false};
  for (const std::string& path : mask.paths()) {
    if (path == "id" || path == "ordinal") {
      // Always returned.
    } else if (path == "domain") {
      result.domain = true;
    } else if (path == "length") {
      result.length = true;
    } else if (path == "attributes") {
      result.attributes = true;
    } else if (path == "payload") {
      result.payload = true;
    } else if (path == "scores") {
      result.scores = true;
    } else if (path == "embedding") {
      result.embedding = true;
    } else {
      return Invalid(absl::StrCat(
          std::string(field), ": unknown path '", path,
          "'; expected id, ordinal, domain, length, attributes, payload, "
          "embedding or scores"));
    }
  }
  return result;
}

absl::StatusOr<FilterParams> ValidateFilterRequest(
    const winnow::v1::FilterRequest& request) {
  if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
    return s;
  }
  FilterParams params;
  absl::StatusOr<ResultView> view = ResolveView(request.view());
  if (!view.ok()) return view.status();
  params.view = *view;
  absl::StatusOr<DocumentMask> mask = ParseReadMask(request.read_mask());
  if (!mask.ok()) return mask.status();
  params.mask = *mask;
  if (request.batch_size() < 0 ||
      request.batch_size() > static_cast<int64_t>(kMaxFilterBatch)) {
    return Invalid(absl::StrCat("batch_size must be in [0, ", kMaxFilterBatch,
                                "], got ", request.batch_size()));
  }
  params.batch_size = request.batch_size() == 0
                          ? kDefaultFilterBatch
                          : static_cast<uint32_t>(request.batch_size());
  if (request.max_results() < 0) {
    return Invalid(
        absl::StrCat("max_results must be >= 0, got ", request.max_results()));
  }
  params.max_results = static_cast<uint64_t>(request.max_results());
  params.start_ordinal = request.start_ordinal();
  return params;
}

absl::Status ValidateCountRequest(const winnow::v1::CountRequest& request) {
  if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
    return s;
  }
  for (int i = 0; i < request.histograms_size(); ++i) {
    const winnow::v1::HistogramSpec& h = request.histograms(i);
    std::string field = absl::StrCat("histograms[", i, "]");
    if (h.column().empty()) {
      return Invalid(absl::StrCat(field, ".column must not be empty"));
    }
    if (h.bin_count() < 0 || h.bin_count() > 10000) {
      return Invalid(absl::StrCat(
          field, ".bin_count must be in [0, 10000], got ", h.bin_count()));
    }
    if (h.has_lower_bound() && !std::isfinite(h.lower_bound())) {
      return Invalid(absl::StrCat(field, ".lower_bound must be finite"));
    }
    if (h.has_upper_bound() && !std::isfinite(h.upper_bound())) {
      return Invalid(absl::StrCat(field, ".upper_bound must be finite"));
    }
    if (h.has_lower_bound() && h.has_upper_bound() &&
        !(h.lower_bound() < h.upper_bound())) {
      return Invalid(
          absl::StrCat(field, ".lower_bound must be below upper_bound"));
    }
    for (int j = 0; j < h.percentiles_size(); ++j) {
      double p = h.percentiles(j);
      if (!(p >= 0 && p <= 100)) {
        return Invalid(absl::StrCat(field, ".percentiles[", j,
                                    "] must be in [0, 100], got ", p));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SampleParams> ValidateSampleRequest(
    const winnow::v1::SampleRequest& request) {
  const bool resuming = !request.cursor().empty() || !request.plan_id().empty();
  if (!resuming) {
    if (absl::Status s = RequireCollection(request.collection()); !s.ok()) {
      return s;
    }
  }
  SampleParams params;
  if (request.world_size() < 1) {
    return Invalid(
        absl::StrCat("world_size must be >= 1, got ", request.world_size()));
  }
  if (request.rank() < 0 || request.rank() >= request.world_size()) {
    return Invalid(absl::StrCat("rank must be in [0, world_size), got rank ",
                                request.rank(), " with world_size ",
                                request.world_size()));
  }
  params.world_size = static_cast<uint32_t>(request.world_size());
  params.rank = static_cast<uint32_t>(request.rank());
  switch (request.batching_case()) {
    case winnow::v1::SampleRequest::kBatchSize:
      if (request.batch_size() < 1) {
        return Invalid(absl::StrCat("batch_size must be >= 1, got ",
                                    request.batch_size()));
      }
      break;
    case winnow::v1::SampleRequest::kTokenBudget:
      break;
    default:
      if (!resuming) {
        return Invalid(
            "batch_size must be >= 1, got unset (or set token_budget)");
      }
  }
  if (request.num_epochs() < 0) {
    return Invalid(
        absl::StrCat("num_epochs must be >= 0, got ", request.num_epochs()));
  }
  if (request.samples_per_epoch() < 0) {
    return Invalid(absl::StrCat("samples_per_epoch must be >= 0, got ",
                                request.samples_per_epoch()));
  }
  if (request.max_batches() < 0) {
    return Invalid(
        absl::StrCat("max_batches must be >= 0, got ", request.max_batches()));
  }
  params.max_batches = static_cast<uint64_t>(request.max_batches());
  absl::StatusOr<ResultView> view = ResolveView(request.view());
  if (!view.ok()) return view.status();
  params.view = *view;
  absl::StatusOr<DocumentMask> mask = ParseReadMask(request.read_mask());
  if (!mask.ok()) return mask.status();
  params.mask = *mask;
  return params;
}

}  // namespace winnow::server
