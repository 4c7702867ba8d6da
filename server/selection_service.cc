#include "server/selection_service.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/filter_stream.h"
#include "server/histogram.h"
#include "server/nearest.h"
#include "server/query.h"
#include "server/sample_stream.h"
#include "server/unary.h"
#include "server/validation.h"

namespace winnow::server {
namespace {

// Count's answer from one snapshot.
absl::Status CountMatches(const ColumnSet& columns,
                          const winnow::v1::CountRequest& request,
                          winnow::v1::CountResponse* response) {
  absl::StatusOr<Filter> filter = CompileFilter(request.filter(), columns);
  if (!filter.ok()) return filter.status();
  Bitmap matches;
  response->set_count(
      static_cast<int64_t>(filter->EvaluateInto(columns, &matches)));

  std::vector<int64_t> docs, tokens;
  if (request.group_by_domain()) {
    docs.assign(columns.domain_names.size(), 0);
    tokens.assign(columns.domain_names.size(), 0);
  }
  int64_t total_tokens = 0;
  matches.ForEach([&](size_t o) {
    total_tokens += columns.length[o];
    if (request.group_by_domain()) {
      ++docs[columns.domain[o]];
      tokens[columns.domain[o]] += columns.length[o];
    }
  });
  response->set_token_count(total_tokens);

  for (int i = 0; i < request.histograms_size(); ++i) {
    if (absl::Status s = ComputeHistogram(
            request.histograms(i), columns, matches,
            absl::StrCat("histograms[", i, "]"), response->add_histograms());
        !s.ok()) {
      return s;
    }
  }

  if (request.group_by_domain()) {
    std::vector<size_t> order(columns.domain_names.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return columns.domain_names[a] < columns.domain_names[b];
    });
    for (size_t d : order) {
      if (docs[d] == 0) continue;
      winnow::v1::DomainStats* out = response->add_domains();
      out->set_domain(columns.domain_names[d]);
      out->set_document_count(docs[d]);
      out->set_token_count(tokens[d]);
    }
  }
  return absl::OkStatus();
}

}  // namespace

grpc::ServerWriteReactor<winnow::v1::FilterResponse>*
SelectionServiceImpl::Filter(grpc::CallbackServerContext* context,
                             const winnow::v1::FilterRequest* request) {
  return new FilterStream(context, env_, request);
}

grpc::ServerUnaryReactor* SelectionServiceImpl::Count(
    grpc::CallbackServerContext* context,
    const winnow::v1::CountRequest* request,
    winnow::v1::CountResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.SelectionService/Count", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection());
        if (absl::Status s = ValidateCountRequest(*request); !s.ok()) {
          return s;
        }
        absl::StatusOr<storage::ColumnsSnapshot> snapshot =
            env_.store->ReadColumns(request->collection());
        if (!snapshot.ok()) return snapshot.status();
        return CountMatches(snapshot->columns(), *request, response);
      });
}

grpc::ServerUnaryReactor* SelectionServiceImpl::Nearest(
    grpc::CallbackServerContext* context,
    const winnow::v1::NearestRequest* request,
    winnow::v1::NearestResponse* response) {
  return RunUnary(context, env_, "winnow.v1.SelectionService/Nearest", *request,
                  [this, request, response](RpcScope& scope) -> absl::Status {
                    scope.Note("collection", request->collection());
                    return ServeNearest(*env_.store, *request, response);
                  });
}

grpc::ServerWriteReactor<winnow::v1::SampleResponse>*
SelectionServiceImpl::Sample(grpc::CallbackServerContext* context,
                             const winnow::v1::SampleRequest* request) {
  return new SampleStream(context, env_, request);
}

grpc::ServerUnaryReactor* SelectionServiceImpl::ListPlans(
    grpc::CallbackServerContext* context,
    const winnow::v1::ListPlansRequest* request,
    winnow::v1::ListPlansResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.SelectionService/ListPlans", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("collection", request->collection());
        if (request->page_size() < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "page_size must be >= 0, got ", request->page_size()));
        }
        const int page_size = request->page_size() == 0
                                  ? 100
                                  : std::min(request->page_size(), 1000);
        // The page token is the number of plans already listed.
        size_t offset = 0;
        if (!request->page_token().empty() &&
            !absl::SimpleAtoi(request->page_token(), &offset)) {
          return absl::InvalidArgumentError(
              "page_token: not a token from a ListPlansResponse");
        }
        size_t matched = 0;
        int64_t memory = 0;
        for (const std::shared_ptr<Plan>& plan : env_.plans->List()) {
          if (!request->collection().empty() &&
              plan->collection() != request->collection()) {
            continue;
          }
          if (!request->run_id().empty() &&
              plan->run_id() != request->run_id()) {
            continue;
          }
          // Only the plans of collections the caller's token may see.
          if (!scope.principal().MaySee(plan->collection())) continue;
          memory += plan->MemoryBytes();
          if (matched >= offset && response->plans_size() < page_size) {
            *response->add_plans() = plan->Describe();
          }
          ++matched;
        }
        if (offset + response->plans_size() < matched) {
          response->set_next_page_token(
              absl::StrCat(offset + response->plans_size()));
        }
        response->set_total_memory_bytes(memory);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* SelectionServiceImpl::DeletePlan(
    grpc::CallbackServerContext* context,
    const winnow::v1::DeletePlanRequest* request,
    winnow::v1::DeletePlanResponse* response) {
  return RunUnary(
      context, env_, "winnow.v1.SelectionService/DeletePlan", *request,
      [this, request, response](RpcScope& scope) -> absl::Status {
        scope.Note("plan", request->plan_id());
        if (request->plan_id().empty()) {
          return absl::InvalidArgumentError("plan_id must not be empty");
        }
        // A plan of a collection outside the caller's token is answered
        // as if it did not exist (auth.h).
        if (absl::StatusOr<std::shared_ptr<Plan>> plan =
                env_.plans->Get(request->plan_id());
            plan.ok()) {
          if (absl::Status s = CheckObjectScope(
                  scope.principal(), (*plan)->collection(), "plan_id",
                  /*hide=*/true,
                  absl::StrCat("plan '", request->plan_id(), "' not found"));
              !s.ok()) {
            if (request->allow_missing()) {
              response->set_deleted(false);
              return absl::OkStatus();
            }
            return s;
          }
        }
        absl::StatusOr<int64_t> released =
            env_.plans->Delete(request->plan_id());
        if (absl::IsNotFound(released.status()) && request->allow_missing()) {
          response->set_deleted(false);
          return absl::OkStatus();
        }
        if (!released.ok()) return released.status();
        response->set_deleted(true);
        response->set_released_memory_bytes(*released);
        return absl::OkStatus();
      });
}

}  // namespace winnow::server
