#include "client/winnowctl/nearest.h"

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "client/winnowctl/commands.h"
#include "client/winnowctl/npy.h"

namespace winnow::ctl {
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
