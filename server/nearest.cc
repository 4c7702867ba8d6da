#include "server/nearest.h"

#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "selection/nearest.h"
#include "server/query.h"

namespace winnow::server {
namespace {

// What the first snapshot yields.
struct Prepared {
  std::shared_ptr<const EmbeddingMatrix> matrix;
  uint32_t collection_id = 0;
  Bitmap candidates;
  std::vector<float> queries;
  std::vector<uint32_t> exclude;
};

absl::StatusOr<Prepared> Prepare(const storage::Store& store,
                                 const winnow::v1::NearestRequest& request) {
  absl::StatusOr<storage::EmbeddingsSnapshot> snap =
      store.ReadEmbeddings(request.collection());
  if (!snap.ok()) return snap.status();
  Prepared p;
  p.matrix = snap->matrix;
  p.collection_id = snap->columns.collection_id();
  const EmbeddingMatrix& m = *p.matrix;
  const size_t dim = m.dim;
  const ColumnSet& columns = snap->columns.columns();

  if (request.query_vectors_size() % dim != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query_vectors: ", request.query_vectors_size(),
        " floats is not a multiple of the collection's embedding dimension ",
        dim));
  }
  const int64_t num_queries =
      request.query_vectors_size() / dim + request.query_ids_size();
  if (num_queries > kMaxNearestQueries) {
    return absl::InvalidArgumentError(
        absl::StrCat("query_vectors, query_ids: ", num_queries,
                     " queries; at most ", kMaxNearestQueries));
  }
  if (num_queries * request.k() > kMaxNearestNeighbors) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k: ", request.k(), " neighbours for each of ", num_queries,
        " queries is more than ", kMaxNearestNeighbors, " in one response"));
  }

  absl::StatusOr<Filter> filter = CompileFilter(request.filter(), columns);
  if (!filter.ok()) return filter.status();
  filter->EvaluateInto(columns, &p.candidates);  // live and matching
  // Ordinals at or past the matrix's rows have no embedding yet.
  p.candidates.Resize(m.num_rows);
  p.candidates.And(m.present);

  p.queries.assign(request.query_vectors().begin(),
                   request.query_vectors().end());
  p.exclude.assign(request.query_vectors_size() / dim, kNoExclude);
  p.queries.resize(num_queries * dim);
  for (int i = 0; i < request.query_ids_size(); ++i) {
    const std::string& id = request.query_ids(i);
    const std::optional<uint32_t> o = snap->columns.FindId(id);
    if (!o.has_value() || !columns.live->Get(*o)) {
      return absl::NotFoundError(
          absl::StrCat("query_ids[", i, "]: document '", id, "' not found"));
    }
    if (*o >= m.num_rows || !m.present.Get(*o)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "query_ids[", i, "]: document '", id, "' has no embedding"));
    }
    const size_t q = p.exclude.size();
    RowAsFloat(m, *o, std::span<float>(p.queries).subspan(q * dim, dim));
    p.exclude.push_back(request.include_self() ? kNoExclude : *o);
  }
  return p;
}

}  // namespace

absl::Status ValidateNearestRequest(const winnow::v1::NearestRequest& request) {
  if (request.k() < 1 || request.k() > kMaxNearestK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "k must be in [1, ", kMaxNearestK, "], got ", request.k()));
  }
  if (request.query_vectors_size() == 0 && request.query_ids_size() == 0) {
    return absl::InvalidArgumentError(
        "query_vectors, query_ids: no queries (give query vectors or query "
        "ids)");
  }
  for (int i = 0; i < request.query_vectors_size(); ++i) {
    if (!std::isfinite(request.query_vectors(i))) {
      return absl::InvalidArgumentError(
          absl::StrCat("query_vectors[", i, "]: not finite"));
    }
  }
  for (int i = 0; i < request.query_ids_size(); ++i) {
    if (request.query_ids(i).empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("query_ids[", i, "]: empty id"));
    }
  }
  if (!winnow::v1::SimilarityMetric_IsValid(request.metric())) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric: unknown value ", request.metric()));
  }
  return absl::OkStatus();
}

absl::Status ServeNearest(const storage::Store& store,
                          const winnow::v1::NearestRequest& request,
                          winnow::v1::NearestResponse* response) {
  if (absl::Status s = ValidateNearestRequest(request); !s.ok()) return s;
  // The snapshot (and its reader lock) lives only inside Prepare.
  absl::StatusOr<Prepared> p = Prepare(store, request);
  if (!p.ok()) return p.status();

  NearestQuery query;
  query.matrix = p->matrix.get();
  query.candidates = &p->candidates;
  query.queries = p->queries;
  query.exclude = p->exclude;
  query.metric = request.metric() == winnow::v1::SIMILARITY_METRIC_DOT_PRODUCT
                     ? Similarity::kDotProduct
                     : Similarity::kCosine;
  query.k = static_cast<size_t>(request.k());
  std::vector<std::vector<Neighbor>> found = NearestWithTies(query);

  absl::StatusOr<storage::ColumnsSnapshot> names =
      ReopenColumns(store, request.collection(), p->collection_id);
  if (!names.ok()) return names.status();
  const size_t num_vectors = request.query_vectors_size() / p->matrix->dim;
  for (size_t q = 0; q < found.size(); ++q) {
    BreakTies(&found[q], query.k, [&](uint32_t a, uint32_t b) {
      return names->id(a) < names->id(b);
    });
    winnow::v1::NearestResult* result = response->add_results();
    if (q >= num_vectors) {
      result->set_query_id(
          request.query_ids(static_cast<int>(q - num_vectors)));
    }
    for (const Neighbor& n : found[q]) {
      winnow::v1::Neighbor* out = result->add_neighbors();
      out->set_id(std::string(names->id(n.ordinal)));
      out->set_ordinal(n.ordinal);
      out->set_similarity(n.similarity);
    }
  }
  return absl::OkStatus();
}

}  // namespace winnow::server
