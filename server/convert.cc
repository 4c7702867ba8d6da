#include "server/convert.h"

#include <cmath>
#include <unordered_map>

#include "absl/strings/str_cat.h"

namespace winnow::server {
namespace {

absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

void SetTimestamp(int64_t micros, google::protobuf::Timestamp* ts) {
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  ts->set_seconds(seconds);
  ts->set_nanos(static_cast<int32_t>(rest * 1000));
}

// Every per-id column of the columnar form is empty or aligned with ids.
absl::Status CheckColumnsAligned(const winnow::v1::DocumentColumns& cols) {
  const size_t n = static_cast<size_t>(cols.ids_size());
  auto check = [n](const char* field, size_t size) -> absl::Status {
    if (size != 0 && size != n) {
      return Invalid(absl::StrCat("columns.", field, " has ", size,
                                  " entries for ", n, " ids"));
    }
    return absl::OkStatus();
  };
  if (cols.domains_size() != 1) {
    if (absl::Status s = check("domains", cols.domains_size()); !s.ok()) {
      return s;
    }
  } else if (n == 0) {
    return Invalid("columns.domains has 1 entries for 0 ids");
  }
  if (absl::Status s = check("lengths", cols.lengths_size()); !s.ok()) return s;
  if (absl::Status s = check("payloads", cols.payloads_size()); !s.ok()) {
    return s;
  }
  for (int j = 0; j < cols.attributes_size(); ++j) {
    const winnow::v1::AttributeColumn& a = cols.attributes(j);
    if (static_cast<size_t>(a.values_size()) != n) {
      return Invalid(absl::StrCat("columns.attributes[", j, "].values has ",
                                  a.values_size(), " entries for ", n, " ids"));
    }
  }
  for (int j = 0; j < cols.scores_size(); ++j) {
    const winnow::v1::ScoreColumn& s = cols.scores(j);
    if (static_cast<size_t>(s.values_size()) != n) {
      return Invalid(absl::StrCat("columns.scores[", j, "].values has ",
                                  s.values_size(), " entries for ", n, " ids"));
    }
  }
  if (cols.embeddings_size() != 0 &&
      (n == 0 || cols.embeddings_size() % n != 0)) {
    return Invalid(absl::StrCat("columns.embeddings has ",
                                cols.embeddings_size(),
                                " floats, not a multiple of ", n, " ids"));
  }
  return absl::OkStatus();
}

std::span<const uint32_t> Span(
    const google::protobuf::RepeatedField<uint32_t>& field) {
  return {field.data(), static_cast<size_t>(field.size())};
}
std::span<const float> Span(
    const google::protobuf::RepeatedField<float>& field) {
  return {field.data(), static_cast<size_t>(field.size())};
}

}  // namespace

absl::StatusOr<storage::CollectionSpec> ToCollectionSpec(
    const winnow::v1::Collection& collection) {
  storage::CollectionSpec spec;
  spec.name = collection.name();
  if (collection.embedding_dimension() < 0) {
    return Invalid(
        absl::StrCat("collection.embedding_dimension must be >= 0, got ",
                     collection.embedding_dimension()));
  }
  spec.embedding_dimension =
      static_cast<uint32_t>(collection.embedding_dimension());
  spec.loss_ema_half_life_steps = collection.loss_ema_half_life_steps();
  switch (collection.embedding_dtype()) {
    case winnow::v1::EMBEDDING_DTYPE_UNSPECIFIED:
    case winnow::v1::EMBEDDING_DTYPE_FLOAT32:
      spec.embedding_type = storage::EmbeddingType::kFloat32;
      break;
    case winnow::v1::EMBEDDING_DTYPE_FLOAT16:
      spec.embedding_type = storage::EmbeddingType::kFloat16;
      break;
    default:
      return Invalid(
          absl::StrCat("collection.embedding_dtype: unknown value ",
                       static_cast<int>(collection.embedding_dtype())));
  }
  return spec;
}

void ToProto(const storage::CollectionInfo& info,
             winnow::v1::Collection* collection) {
  collection->set_name(info.name);
  collection->set_embedding_dimension(
      static_cast<int32_t>(info.embedding_dimension));
  collection->set_embedding_dtype(info.embedding_type ==
                                          storage::EmbeddingType::kFloat16
                                      ? winnow::v1::EMBEDDING_DTYPE_FLOAT16
                                      : winnow::v1::EMBEDDING_DTYPE_FLOAT32);
  SetTimestamp(info.create_time_micros, collection->mutable_create_time());
  collection->set_loss_ema_half_life_steps(info.loss_ema_half_life_steps);
  winnow::v1::CollectionStats* stats = collection->mutable_stats();
  stats->set_document_count(static_cast<int64_t>(info.num_documents));
  stats->set_token_count(static_cast<int64_t>(info.num_tokens));
  stats->set_embedding_count(static_cast<int64_t>(info.num_embeddings));
  for (const storage::DomainInfo& d : info.domains) {
    winnow::v1::DomainStats* out = stats->add_domains();
    out->set_domain(d.name);
    out->set_document_count(static_cast<int64_t>(d.num_documents));
    out->set_token_count(static_cast<int64_t>(d.num_tokens));
  }
  for (const storage::ScoreInfo& s : info.scores) {
    winnow::v1::ScoreStats* out = stats->add_scores();
    out->set_name(s.name);
    out->set_value_count(static_cast<int64_t>(s.num_values));
  }
  for (const std::string& key : info.attribute_keys) {
    stats->add_attribute_keys(key);
  }
  stats->set_disk_bytes(static_cast<int64_t>(info.disk_bytes));
  stats->set_memory_bytes(static_cast<int64_t>(info.memory_bytes));
  if (info.update_time_micros != 0) {
    SetTimestamp(info.update_time_micros, stats->mutable_update_time());
  }
}

absl::Status UpsertBatch::Build(
    const winnow::v1::UpsertDocumentsRequest& request) {
  batch_ = storage::DocumentBatch{};
  lengths_.clear();
  embeddings_.clear();
  score_values_.clear();
  score_nulls_.clear();
  const winnow::v1::DocumentColumns& cols = request.columns();
  if (absl::Status s = CheckColumnsAligned(cols); !s.ok()) return s;
  if (request.documents().empty()) return BuildColumnar(cols);
  // Rows, possibly followed by columns: lay the rows out as columns. Ids,
  // domains, attribute values and payloads stay views.
  const auto& rows = request.documents();
  size_t row_dim = 0;
  if (absl::Status s = LayOutRows(rows, cols, &row_dim); !s.ok()) return s;
  AddPayloads(rows, cols);
  if (row_dim > 0) AddEmbeddings(rows, cols, row_dim);
  if (absl::Status s = AddScores(rows, cols); !s.ok()) return s;
  return AddAttributes(rows, cols);
}

absl::Status UpsertBatch::BuildColumnar(
    const winnow::v1::DocumentColumns& cols) {
  const size_t nc = static_cast<size_t>(cols.ids_size());
  // The columnar form alone: views into the request, nothing copied.
  batch_.ids.assign(cols.ids().begin(), cols.ids().end());
  batch_.domains.assign(cols.domains().begin(), cols.domains().end());
  batch_.lengths = {cols.lengths().data(),
                    static_cast<size_t>(cols.lengths_size())};
  if (cols.payloads_size() > 0) {
    batch_.payloads.reserve(nc);
    for (const std::string& p : cols.payloads()) {
      batch_.payloads.push_back(p.empty() ? std::nullopt
                                          : std::optional<std::string_view>(p));
    }
  }
  batch_.embeddings = Span(cols.embeddings());
  for (const winnow::v1::ScoreColumn& s : cols.scores()) {
    batch_.scores.push_back(
        {s.name(), Span(s.values()), Span(s.null_indexes())});
  }
  for (const winnow::v1::AttributeColumn& a : cols.attributes()) {
    batch_.attributes.push_back(
        {a.key(),
         std::vector<std::string_view>(a.values().begin(), a.values().end())});
  }
  return absl::OkStatus();
}

absl::Status UpsertBatch::LayOutRows(const Rows& rows,
                                     const winnow::v1::DocumentColumns& cols,
                                     size_t* row_dim_out) {
  const size_t nr = static_cast<size_t>(rows.size());
  const size_t nc = static_cast<size_t>(cols.ids_size());
  const size_t n = nr + nc;
  batch_.ids.reserve(n);
  batch_.domains.reserve(n);
  lengths_.reserve(n);
  size_t row_dim = 0;
  bool rows_have_embeddings = false;
  for (size_t i = 0; i < nr; ++i) {
    const winnow::v1::Document& d = rows[static_cast<int>(i)];
    batch_.ids.push_back(d.id());
    batch_.domains.push_back(d.domain());
    if (d.length() < 0) {
      return Invalid(absl::StrCat("documents[", i, "].length: ", d.length(),
                                  " is negative"));
    }
    lengths_.push_back(d.length());
    size_t dim = static_cast<size_t>(d.embedding_size());
    if (i == 0) {
      rows_have_embeddings = dim > 0;
      row_dim = dim;
    } else if (dim != row_dim) {
      return Invalid(absl::StrCat(
          "documents[", i, "].embedding has ", dim, " floats but documents[0]",
          ".embedding has ", row_dim,
          "; a batch gives an embedding for every document or for none"));
    }
  }
  const bool cols_have_embeddings = cols.embeddings_size() > 0;
  if (nc > 0 && rows_have_embeddings != cols_have_embeddings) {
    return Invalid(
        "documents and columns: a batch gives an embedding for every "
        "document or for none");
  }
  if (nc > 0 && cols_have_embeddings &&
      static_cast<size_t>(cols.embeddings_size()) / nc != row_dim) {
    return Invalid(absl::StrCat(
        "columns.embeddings has ", cols.embeddings_size() / nc,
        " floats per document but documents[0].embedding has ", row_dim));
  }
  for (size_t j = 0; j < nc; ++j) {
    const int jj = static_cast<int>(j);
    batch_.ids.push_back(cols.ids(jj));
    batch_.domains.push_back(cols.domains_size() == 0   ? std::string_view()
                             : cols.domains_size() == 1 ? cols.domains(0)
                                                        : cols.domains(jj));
    lengths_.push_back(cols.lengths_size() == 0 ? 0 : cols.lengths(jj));
  }
  batch_.lengths = lengths_;
  *row_dim_out = rows_have_embeddings ? row_dim : 0;
  return absl::OkStatus();
}

void UpsertBatch::AddPayloads(const Rows& rows,
                              const winnow::v1::DocumentColumns& cols) {
  const size_t nc = static_cast<size_t>(cols.ids_size());
  bool any_payload = cols.payloads_size() > 0;
  for (const winnow::v1::Document& d : rows) any_payload |= d.has_payload();
  if (!any_payload) return;
  batch_.payloads.reserve(rows.size() + nc);
  for (const winnow::v1::Document& d : rows) {
    batch_.payloads.push_back(d.has_payload()
                                  ? std::optional<std::string_view>(d.payload())
                                  : std::nullopt);
  }
  for (size_t j = 0; j < nc; ++j) {
    const std::string& p =
        cols.payloads_size() == 0 ? std::string() : cols.payloads(int(j));
    batch_.payloads.push_back(p.empty() ? std::nullopt
                                        : std::optional<std::string_view>(p));
  }
}

void UpsertBatch::AddEmbeddings(const Rows& rows,
                                const winnow::v1::DocumentColumns& cols,
                                size_t row_dim) {
  embeddings_.reserve((rows.size() + cols.ids_size()) * row_dim);
  for (const winnow::v1::Document& d : rows) {
    embeddings_.insert(embeddings_.end(), d.embedding().begin(),
                       d.embedding().end());
  }
  embeddings_.insert(embeddings_.end(), cols.embeddings().begin(),
                     cols.embeddings().end());
  batch_.embeddings = embeddings_;
}

absl::Status UpsertBatch::AddScores(const Rows& rows,
                                    const winnow::v1::DocumentColumns& cols) {
  const size_t nr = static_cast<size_t>(rows.size());
  const size_t nc = static_cast<size_t>(cols.ids_size());
  const size_t n = nr + nc;
  // Scores: the union of the rows' names and the columns', each a column
  // over all n documents; a document without the name is null there.
  std::unordered_map<std::string_view, size_t> score_index;
  std::vector<std::string_view> score_names;
  std::vector<std::vector<uint8_t>> present;
  auto column_for = [&](std::string_view name) -> size_t {
    auto [it, inserted] = score_index.emplace(name, score_names.size());
    if (inserted) {
      score_names.push_back(name);
      score_values_.emplace_back(n, 0.0f);
      present.emplace_back(n, 0);
    }
    return it->second;
  };
  for (size_t i = 0; i < nr; ++i) {
    for (const auto& [name, value] : rows[static_cast<int>(i)].scores()) {
      if (!std::isfinite(value)) {
        return Invalid(absl::StrCat("documents[", i, "].scores[\"", name,
                                    "\"]: ", value, " is not finite"));
      }
      size_t c = column_for(name);
      score_values_[c][i] = value;
      present[c][i] = 1;
    }
  }
  for (int j = 0; j < cols.scores_size(); ++j) {
    const winnow::v1::ScoreColumn& s = cols.scores(j);
    for (int k = 0; k < j; ++k) {
      if (cols.scores(k).name() == s.name()) {
        return Invalid(absl::StrCat("columns.scores[", j, "].name: '", s.name(),
                                    "' is given twice"));
      }
    }
    size_t c = column_for(s.name());
    std::vector<uint8_t> is_null(nc, 0);
    for (uint32_t k : s.null_indexes()) {
      if (k >= nc) {
        return Invalid(absl::StrCat("columns.scores[", j, "].null_indexes: ", k,
                                    " is out of range for ", nc, " ids"));
      }
      is_null[k] = 1;
    }
    for (size_t k = 0; k < nc; ++k) {
      if (is_null[k]) continue;
      score_values_[c][nr + k] = s.values(static_cast<int>(k));
      present[c][nr + k] = 1;
    }
  }
  for (size_t c = 0; c < score_names.size(); ++c) {
    std::vector<uint32_t>& nulls = score_nulls_.emplace_back();
    for (size_t i = 0; i < n; ++i) {
      if (!present[c][i]) nulls.push_back(static_cast<uint32_t>(i));
    }
    batch_.scores.push_back({score_names[c], score_values_[c], nulls});
  }
  return absl::OkStatus();
}

absl::Status UpsertBatch::AddAttributes(
    const Rows& rows, const winnow::v1::DocumentColumns& cols) {
  const size_t nr = static_cast<size_t>(rows.size());
  const size_t nc = static_cast<size_t>(cols.ids_size());
  const size_t n = nr + nc;
  // Attributes: likewise, with "" for a document that lacks the key.
  std::unordered_map<std::string_view, size_t> attr_index;
  auto attr_for = [&](std::string_view key) -> size_t {
    auto [it, inserted] = attr_index.emplace(key, batch_.attributes.size());
    if (inserted) {
      batch_.attributes.push_back(
          {key, std::vector<std::string_view>(n, std::string_view())});
    }
    return it->second;
  };
  for (size_t i = 0; i < nr; ++i) {
    for (const auto& [key, value] : rows[static_cast<int>(i)].attributes()) {
      batch_.attributes[attr_for(key)].values[i] = value;
    }
  }
  for (int j = 0; j < cols.attributes_size(); ++j) {
    const winnow::v1::AttributeColumn& a = cols.attributes(j);
    for (int k = 0; k < j; ++k) {
      if (cols.attributes(k).key() == a.key()) {
        return Invalid(absl::StrCat("columns.attributes[", j, "].key: '",
                                    a.key(), "' is given twice"));
      }
    }
    storage::AttributeColumn& column = batch_.attributes[attr_for(a.key())];
    for (size_t k = 0; k < nc; ++k) {
      column.values[nr + k] = a.values(static_cast<int>(k));
    }
  }
  return absl::OkStatus();
}

storage::GetDocumentsOptions ToReadOptions(const DocumentMask& mask,
                                           std::vector<std::string> score_names,
                                           bool allow_missing) {
  storage::GetDocumentsOptions options;
  options.attributes = mask.attributes;
  options.scores = mask.scores;
  options.score_names = std::move(score_names);
  options.payload = mask.payload;
  options.embedding = mask.embedding;
  options.include_deleted = false;
  options.allow_missing = allow_missing;
  return options;
}

void ToProto(const storage::StoredDocument& document, const DocumentMask& mask,
             winnow::v1::Document* out) {
  out->set_id(document.id);
  out->set_ordinal(document.ordinal);
  if (mask.domain) out->set_domain(document.domain);
  if (mask.length) out->set_length(document.length);
  if (mask.attributes) {
    out->mutable_attributes()->insert(document.attributes.begin(),
                                      document.attributes.end());
  }
  if (mask.payload && document.payload.has_value()) {
    out->set_payload(*document.payload);
  }
  if (mask.embedding && !document.embedding.empty()) {
    out->mutable_embedding()->Assign(document.embedding.begin(),
                                     document.embedding.end());
  }
  if (mask.scores) {
    out->mutable_scores()->insert(document.scores.begin(),
                                  document.scores.end());
  }
}

absl::StatusOr<storage::ScoreBatch> ToScoreBatch(
    const winnow::v1::PutScoresRequest& request) {
  if (request.ids_size() > 0 && request.ordinals_size() > 0) {
    return Invalid("ids and ordinals: set ids or ordinals, not both");
  }
  storage::ScoreBatch batch;
  batch.ids.assign(request.ids().begin(), request.ids().end());
  batch.ordinals = {request.ordinals().data(),
                    static_cast<size_t>(request.ordinals_size())};
  const size_t n = static_cast<size_t>(
      std::max(request.ids_size(), request.ordinals_size()));
  batch.scores.reserve(request.scores_size());
  for (int j = 0; j < request.scores_size(); ++j) {
    const winnow::v1::ScoreColumn& s = request.scores(j);
    if (static_cast<size_t>(s.values_size()) != n) {
      return Invalid(absl::StrCat("scores[", j, "].values has ",
                                  s.values_size(), " entries for ", n,
                                  " documents"));
    }
    batch.scores.push_back(
        {s.name(), Span(s.values()), Span(s.null_indexes())});
  }
  batch.allow_missing = request.allow_missing();
  return batch;
}

storage::TrainingReport ToTrainingReport(
    const winnow::v1::ReportTrainingRequest& request) {
  storage::TrainingReport report;
  report.stream_id = request.stream_id();
  report.sequence = request.sequence();
  report.plan_id = request.plan_id();
  report.ids.assign(request.ids().begin(), request.ids().end());
  report.ordinals = {request.ordinals().data(),
                     static_cast<size_t>(request.ordinals_size())};
  report.losses = Span(request.losses());
  report.steps = {request.steps().data(),
                  static_cast<size_t>(request.steps_size())};
  report.domain_losses.reserve(request.domain_losses_size());
  for (const winnow::v1::DomainLoss& d : request.domain_losses()) {
    report.domain_losses.push_back({d.domain(), d.excess_loss()});
  }
  return report;
}

}  // namespace winnow::server
