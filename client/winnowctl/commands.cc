#include "client/winnowctl/commands.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/winnowctl/npy.h"
#include "client/winnowctl/progress.h"

namespace winnow::ctl {
namespace {

// Marks a usage error (see UsageError).
constexpr char kUsagePayload[] = "type.winnow.dev/winnowctl.UsageError";

absl::Status Usage(const std::string& message) { return UsageError(message); }

}  // namespace

void AppendFloat(float value, std::string* out) {
  char buffer[32];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out->append(buffer, end);
}

absl::Status UsageError(std::string_view message) {
  absl::Status status = absl::InvalidArgumentError(
      absl::string_view(message.data(), message.size()));
  status.SetPayload(kUsagePayload, absl::Cord());
  return status;
}

bool IsUsageError(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument &&
         status.GetPayload(kUsagePayload).has_value();
}

absl::Status RunToken(const TokenArgs& args, std::ostream& out) {
  if (args.role != "reader" && args.role != "writer" && args.role != "admin") {
    return Usage("--role: expected reader, writer or admin, got '" + args.role +
                 "'");
  }
  // Each value is one whitespace-free field of the token file.
  auto one_field = [](const std::string& value) {
    for (char c : value) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '#' ||
          static_cast<unsigned char>(c) < 0x20) {
        return false;
      }
    }
    return true;
  };
  if (!one_field(args.collections)) {
    return Usage("--collections: must not contain spaces or '#'");
  }
  if (!one_field(args.name)) {
    return Usage("--name: must not contain spaces or '#'");
  }
  unsigned char random[32];
  if (RAND_bytes(random, sizeof(random)) != 1) {
    return absl::InternalError("RAND_bytes failed: no secure randomness");
  }
  // base64url without padding: 43 characters, safe in metadata and shells.
  unsigned char encoded[64];
  const int length = EVP_EncodeBlock(encoded, random, sizeof(random));
  std::string token = "wnw_";
  for (int i = 0; i < length; ++i) {
    const char c = static_cast<char>(encoded[i]);
    if (c == '=') break;
    token += c == '+' ? '-' : c == '/' ? '_' : c;
  }
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(),
         digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char b : digest) {
    hex += kHex[b >> 4];
    hex += kHex[b & 15];
  }
  std::string line = absl::StrCat("role=", args.role, " sha256=", hex);
  if (!args.collections.empty()) {
    absl::StrAppend(&line, " collections=", args.collections);
  }
  if (!args.name.empty()) absl::StrAppend(&line, " name=", args.name);
  out << token << "\n" << line << "\n";
  return absl::OkStatus();
}

absl::Status RunCreate(const Client& client, const CreateArgs& args,
                       std::ostream& out) {
  v1::CreateCollectionRequest request;
  v1::Collection* collection = request.mutable_collection();
  collection->set_name(args.name);
  collection->set_embedding_dimension(args.embedding_dimension);
  if (args.embedding_dtype == "float32") {
    collection->set_embedding_dtype(v1::EMBEDDING_DTYPE_FLOAT32);
  } else if (args.embedding_dtype == "float16") {
    collection->set_embedding_dtype(v1::EMBEDDING_DTYPE_FLOAT16);
  } else {
    return Usage(
        absl::StrCat("--embedding-dtype must be float32 or float16, not '",
                     args.embedding_dtype, "'"));
  }
  absl::StatusOr<v1::CreateCollectionResponse> response =
      client.CreateCollection(request);
  if (!response.ok()) return response.status();
  out << "created collection '" << response->collection().name() << "'";
  if (response->collection().embedding_dimension() > 0) {
    out << " (embedding_dimension "
        << response->collection().embedding_dimension() << ")";
  }
  out << "\n";
  return absl::OkStatus();
}

absl::Status RunList(const Client& client, std::ostream& out) {
  v1::ListCollectionsRequest request;
  do {
    absl::StatusOr<v1::ListCollectionsResponse> page =
        client.ListCollections(request);
    if (!page.ok()) return page.status();
    for (const v1::Collection& c : page->collections()) {
      out << c.name() << '\t' << c.stats().document_count() << '\t'
          << c.embedding_dimension() << '\n';
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return absl::OkStatus();
}

absl::Status RunDelete(const Client& client, const DeleteArgs& args,
                       std::ostream& out) {
  if (!args.yes) {
    return Usage(absl::StrCat("refusing to delete collection '", args.name,
                              "' without --yes: it drops every document, "
                              "score and plan of it"));
  }
  v1::DeleteCollectionRequest request;
  request.set_name(args.name);
  request.set_allow_missing(args.allow_missing);
  absl::StatusOr<v1::DeleteCollectionResponse> response =
      client.DeleteCollection(request);
  if (!response.ok()) return response.status();
  if (response->deleted()) {
    out << "deleted collection '" << args.name << "'\n";
  } else {
    out << "collection '" << args.name << "' did not exist\n";
  }
  return absl::OkStatus();
}

absl::Status RunImport(const Client& client, const ImportOptions& options,
                       std::ostream& out, std::ostream& err) {
  if (options.batch_size < 1) return Usage("--batch-size must be at least 1");
  if (options.resume_from_line < 1) {
    return Usage("--resume-from-line must be at least 1");
  }
  ImportResult r;
  absl::Status status = Import(client, options, &r);
  const std::string imported =
      absl::StrCat(FormatCount(r.documents_imported), " documents imported");
  if (status.ok() && r.complete) {
    const double seconds = absl::ToDoubleSeconds(r.elapsed);
    out << "imported " << FormatCount(r.documents_imported)
        << " documents from " << options.path << " in "
        << absl::FormatDuration(absl::Trunc(r.elapsed, absl::Milliseconds(1)))
        << " (" << FormatRate(seconds > 0 ? r.documents_imported / seconds : 0)
        << " docs/s); " << r.batches << " batches, " << r.resends
        << " resent\n";
    return absl::OkStatus();
  }
  if (status.ok()) {
    return absl::CancelledError(
        absl::StrCat("import interrupted: ", imported,
                     "; resume with --resume-from-line ", r.resume_line));
  }
  if (r.bad_line > 0) {
    err << status.message() << "\n";
    return absl::InvalidArgumentError(
        absl::StrCat("import stopped at line ", r.bad_line, " of ",
                     options.path, ": ", imported,
                     " before it; fix the line, then resume with "
                     "--resume-from-line ",
                     r.resume_line));
  }
  if (r.lines_read == 0) return status;  // nothing was attempted
  return absl::Status(
      status.code(),
      absl::StrCat(status.message(), "; ", imported,
                   "; resume with --resume-from-line ", r.resume_line));
}

absl::Status RunCount(const Client& client, const CountArgs& args,
                      std::ostream& out) {
  v1::CountRequest request;
  request.set_collection(args.name);
  request.set_filter(args.filter);
  absl::StatusOr<v1::CountResponse> response = client.Count(request);
  if (!response.ok()) return response.status();
  out << response->count() << "\n";
  return absl::OkStatus();
}

std::string FormatFilterLines(const v1::FilterResponse& response) {
  std::string out;
  const int columns = response.scores_size();
  // Each column's next null index, walked along with the rows.
  std::vector<int> next_null(columns, 0);
  for (int i = 0; i < response.ids_size(); ++i) {
    out.append(response.ids(i));
    for (int c = 0; c < columns; ++c) {
      const v1::ScoreColumn& column = response.scores(c);
      out.push_back('\t');
      int& k = next_null[c];
      while (k < column.null_indexes_size() &&
             column.null_indexes(k) < static_cast<uint32_t>(i)) {
        ++k;
      }
      const bool null = k < column.null_indexes_size() &&
                        column.null_indexes(k) == static_cast<uint32_t>(i);
      if (!null && i < column.values_size())
        AppendFloat(column.values(i), &out);
    }
    out.push_back('\n');
  }
  return out;
}

absl::Status RunFilter(const Client& client, const FilterArgs& args,
                       std::ostream& out) {
  v1::FilterRequest request;
  request.set_collection(args.name);
  request.set_filter(args.filter);
  request.set_view(v1::RESULT_VIEW_IDS);
  request.set_max_results(args.limit);
  request.set_batch_size(args.batch_size);
  for (const std::string& score : args.scores) request.add_score_names(score);
  FilterReader reader = client.Filter(request);
  v1::FilterResponse response;
  while (reader.Next(&response)) out << FormatFilterLines(response);
  out.flush();
  return reader.Finish();
}

absl::StatusOr<v1::SampleRequest> BuildSampleRequest(const SampleArgs& args) {
  v1::SampleRequest request;
  request.set_collection(args.name);
  if (args.world_size < 1) return Usage("--world-size must be at least 1");
  if (args.rank < 0 || args.rank >= args.world_size) {
    return Usage(absl::StrCat("--rank must be in [0, --world-size) = [0, ",
                              args.world_size, ")"));
  }
  request.set_rank(args.rank);
  request.set_world_size(args.world_size);
  if (args.max_batches < 0) return Usage("--max-batches must not be negative");
  request.set_max_batches(args.max_batches);
  if (args.view == "ids") {
    request.set_view(v1::RESULT_VIEW_IDS);
  } else if (args.view == "ordinals") {
    request.set_view(v1::RESULT_VIEW_ORDINALS);
  } else {
    return Usage(
        absl::StrCat("--view must be ids or ordinals, not '", args.view, "'"));
  }
  if (args.format != "text" && args.format != "jsonl") {
    return Usage(absl::StrCat("--format must be text or jsonl, not '",
                              args.format, "'"));
  }
  if (!args.cursor.empty()) {
    // The cursor names the plan; the plan flags are not sent.
    request.set_cursor(args.cursor);
    return request;
  }
  request.set_plan_id(args.plan_id);
  request.set_filter(args.filter);
  request.set_seed(args.seed);
  request.set_run_id(args.run_id);
  if (args.epochs < 0) return Usage("--epochs must not be negative");
  request.set_num_epochs(args.epochs);
  if (args.samples_per_epoch < 0) {
    return Usage("--samples-per-epoch must not be negative");
  }
  request.set_samples_per_epoch(args.samples_per_epoch);
  if (args.batch_size < 1) return Usage("--batch-size must be at least 1");
  request.set_batch_size(args.batch_size);
  request.set_drop_last(args.drop_last);

  const bool weighted = args.strategy == "weighted";
  if (!weighted && args.strategy != "uniform") {
    return Usage(absl::StrCat("--strategy must be uniform or weighted, not '",
                              args.strategy, "'"));
  }
  if (!weighted) {
    if (!args.score.empty() || args.alpha || args.temperature ||
        args.weight_function != "raw") {
      return Usage(
          "--score, --weight-function, --alpha and --temperature apply to "
          "--strategy weighted");
    }
    request.mutable_strategy()->mutable_uniform();
    return request;
  }
  if (args.score.empty()) return Usage("--strategy weighted needs --score");
  v1::WeightedStrategy* w = request.mutable_strategy()->mutable_weighted();
  w->set_score(args.score);
  if (args.weight_function == "raw") {
    w->set_weight_function(v1::WEIGHT_FUNCTION_RAW);
  } else if (args.weight_function == "power") {
    w->set_weight_function(v1::WEIGHT_FUNCTION_POWER);
  } else if (args.weight_function == "softmax") {
    w->set_weight_function(v1::WEIGHT_FUNCTION_SOFTMAX);
  } else {
    return Usage(
        absl::StrCat("--weight-function must be raw, power or softmax, not '",
                     args.weight_function, "'"));
  }
  if (args.alpha) {
    if (args.weight_function != "power") {
      return Usage("--alpha applies to --weight-function power");
    }
    w->set_alpha(*args.alpha);
  }
  if (args.temperature) {
    if (args.weight_function != "softmax") {
      return Usage("--temperature applies to --weight-function softmax");
    }
    if (!(*args.temperature > 0)) return Usage("--temperature must be > 0");
    w->set_temperature(*args.temperature);
  }
  return request;
}

std::string FormatSampleText(const v1::SampleResponse& response) {
  const v1::SampleBatch& batch = response.batch();
  std::string line = absl::StrCat("batch ", batch.global_batch_index(), ":");
  for (const std::string& id : batch.ids()) absl::StrAppend(&line, " ", id);
  for (uint64_t ordinal : batch.ordinals()) {
    absl::StrAppend(&line, " ", ordinal);
  }
  return line;
}

std::string FormatSampleJson(const v1::SampleResponse& response) {
  const v1::SampleBatch& batch = response.batch();
  nlohmann::ordered_json json;
  json["plan_id"] = response.plan_id();
  json["epoch"] = batch.epoch();
  json["global_batch_index"] = batch.global_batch_index();
  if (batch.ordinals_size() > 0) {
    json["ordinals"] =
        std::vector<uint64_t>(batch.ordinals().begin(), batch.ordinals().end());
  } else {
    json["ids"] =
        std::vector<std::string>(batch.ids().begin(), batch.ids().end());
  }
  json["cursor"] = response.cursor();
  if (batch.last_in_epoch()) json["last_in_epoch"] = true;
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

absl::Status RunSample(const Client& client, const SampleArgs& args,
                       std::ostream& out) {
  absl::StatusOr<v1::SampleRequest> request = BuildSampleRequest(args);
  if (!request.ok()) return request.status();
  const bool jsonl = args.format == "jsonl";
  SampleReader reader = client.Sample(*request);
  v1::SampleResponse response;
  while (reader.Next(&response)) {
    // Flushed per batch: a trainer may read the lines as they come.
    out << (jsonl ? FormatSampleJson(response) : FormatSampleText(response))
        << std::endl;
  }
  return reader.Finish();
}

// --- nearest ---

namespace {

// How a query is named in the text output: its id, or "#ROW" for a row of
// the vector file (the response lists the vectors first).
std::string QueryName(const v1::NearestResult& result, int index) {
  return result.query_id().empty() ? absl::StrCat("#", index)
                                   : result.query_id();
}

// The double whose shortest text is the float's, so that JSON shows 0.1
// rather than 0.10000000149011612, the float's value as a double.
double JsonNumber(float value) {
  std::string text;
  AppendFloat(value, &text);
  return std::strtod(text.c_str(), nullptr);
}

}  // namespace

absl::StatusOr<v1::NearestRequest> BuildNearestRequest(
    const NearestArgs& args) {
  if (args.ids.empty() && args.vector_file.empty()) {
    return UsageError("nearest needs --id or --vector-file");
  }
  if (args.k < 1) return UsageError("-k must be at least 1");
  if (args.format != "text" && args.format != "jsonl") {
    return UsageError(absl::StrCat("--format must be text or jsonl, not '",
                                   args.format, "'"));
  }
  v1::NearestRequest request;
  request.set_collection(args.collection);
  request.set_k(args.k);
  request.set_filter(args.filter);
  request.set_include_self(args.include_self);
  if (args.metric == "cosine") {
    request.set_metric(v1::SIMILARITY_METRIC_COSINE);
  } else if (args.metric == "dot") {
    request.set_metric(v1::SIMILARITY_METRIC_DOT_PRODUCT);
  } else {
    return UsageError(absl::StrCat("--metric must be cosine or dot, not '",
                                   args.metric, "'"));
  }
  for (const std::string& id : args.ids) request.add_query_ids(id);
  if (!args.vector_file.empty()) {
    NpyHeader header;
    absl::StatusOr<std::vector<float>> vectors =
        ReadNpyFile(args.vector_file, &header);
    if (!vectors.ok()) return vectors.status();
    if (header.rows == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("--vector-file ", args.vector_file, " has no rows"));
    }
    request.mutable_query_vectors()->Add(vectors->begin(), vectors->end());
  }
  return request;
}

std::string FormatNearestText(const v1::NearestResponse& response) {
  std::string out;
  for (int q = 0; q < response.results_size(); ++q) {
    const v1::NearestResult& result = response.results(q);
    const std::string query = QueryName(result, q);
    for (const v1::Neighbor& n : result.neighbors()) {
      absl::StrAppend(&out, query, "\t", n.id(), "\t");
      AppendFloat(n.similarity(), &out);
      out.push_back('\n');
    }
  }
  return out;
}

std::string FormatNearestJson(const v1::NearestResponse& response) {
  std::string out;
  for (int q = 0; q < response.results_size(); ++q) {
    const v1::NearestResult& result = response.results(q);
    nlohmann::ordered_json json;
    if (result.query_id().empty()) {
      json["query_row"] = q;
    } else {
      json["query_id"] = result.query_id();
    }
    json["neighbors"] = nlohmann::ordered_json::array();
    for (const v1::Neighbor& n : result.neighbors()) {
      json["neighbors"].push_back({{"id", n.id()},
                                   {"ordinal", n.ordinal()},
                                   {"similarity", JsonNumber(n.similarity())}});
    }
    absl::StrAppend(
        &out,
        json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
        "\n");
  }
  return out;
}

absl::Status RunNearest(const Client& client, const NearestArgs& args,
                        std::ostream& out) {
  absl::StatusOr<v1::NearestRequest> request = BuildNearestRequest(args);
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::NearestResponse> response = client.Nearest(*request);
  if (!response.ok()) return response.status();
  out << (args.format == "jsonl" ? FormatNearestJson(*response)
                                 : FormatNearestText(*response));
  return absl::OkStatus();
}

}  // namespace winnow::ctl
