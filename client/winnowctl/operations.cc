#include "client/winnowctl/operations.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "client/winnowctl/commands.h"
#include "client/winnowctl/npy.h"
#include "client/winnowctl/progress.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/timestamp.pb.h"

namespace winnow::ctl {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration ToDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

// An enum value by its short name: OPERATION_STATE_SUCCEEDED of
// OperationState is "succeeded", CENTROID_INIT_KMEANS_PLUS_PLUS
// "kmeans-plus-plus".
std::string EnumText(const google::protobuf::EnumValueDescriptor* value) {
  std::string prefix;  // the enum's name in UPPER_SNAKE, then "_"
  for (char c : value->type()->name()) {
    if (std::isupper(static_cast<unsigned char>(c)) && !prefix.empty())
      prefix += '_';
    prefix += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  prefix += '_';
  std::string name = value->name();
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) {
    c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  }
  return name;
}

// A message printed as one value, or nullopt for one printed by field.
std::optional<std::string> WholeMessageText(const Message& m) {
  if (auto* t = dynamic_cast<const google::protobuf::Timestamp*>(&m)) {
    return absl::FormatTime(absl::RFC3339_full, ToTime(*t),
                            absl::UTCTimeZone());
  }
  if (auto* d = dynamic_cast<const google::protobuf::Duration*>(&m)) {
    return absl::StrCat(absl::ToDoubleSeconds(ToDuration(*d)), "s");
  }
  if (auto* s = dynamic_cast<const v1::Status*>(&m)) {
    return absl::StrCat(
        StatusCodeName(static_cast<absl::StatusCode>(s->code())), ": ",
        s->message());
  }
  return std::nullopt;
}

// Value `index` of a repeated field, or the value of a singular one (-1).
std::string ValueText(const Message& m, const FieldDescriptor* f, int index) {
  const auto* r = m.GetReflection();
  const bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index)
                              : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index)
                              : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index)
                              : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index)
                              : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return absl::StrCat(rep ? r->GetRepeatedDouble(m, f, index)
                              : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return absl::StrCat(rep ? r->GetRepeatedFloat(m, f, index)
                              : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f))
                 ? "true"
                 : "false";
    case FieldDescriptor::CPPTYPE_ENUM:
      return EnumText(rep ? r->GetRepeatedEnum(m, f, index) : r->GetEnum(m, f));
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return (rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f))
          .ShortDebugString();
  }
  return "";
}

absl::Status Interrupted(const Client& client, const std::string& id) {
  v1::CancelOperationRequest request;
  request.set_operation_id(id);
  absl::StatusOr<v1::CancelOperationResponse> cancelled =
      client.CancelOperation(request);
  return absl::CancelledError(absl::StrCat(
      "interrupted while waiting for operation ", id, ": ",
      cancelled.ok() ? "cancel requested"
                     : "cancelling it failed: " + cancelled.status().ToString(),
      "; follow it with `winnowctl ops wait ", id, "`"));
}

// Reads the stream to its end, drawing each update; `*last` is the latest
// state. Cancels the stream from another thread once `interrupted` is set.
absl::Status ReadUpdates(OperationReader& reader, const WaitOptions& options,
                         v1::Operation* last, bool* any) {
  std::optional<ProgressDrawer> drawer;
  if (options.progress != nullptr) {
    drawer.emplace(options.progress, options.progress_tty,
                   options.plain_interval);
  }
  std::atomic<bool> ended{false};
  std::thread watcher;
  if (options.interrupted != nullptr) {
    watcher = std::thread([&] {
      while (!ended.load()) {
        if (options.interrupted->load()) return reader.Cancel();
        absl::SleepFor(absl::Milliseconds(20));
      }
    });
  }
  v1::WaitOperationResponse response;
  while (reader.Next(&response)) {
    const bool first = !*any;
    *last = std::move(*response.mutable_operation());
    *any = true;
    if (drawer && !last->done() && (first || drawer->Due())) {
      drawer->Draw(OperationBarLine(*last), OperationPlainLine(*last));
    }
  }
  ended.store(true);
  if (watcher.joinable()) watcher.join();
  if (drawer && *any) drawer->Done(OperationBarLine(*last));
  return reader.Finish();
}

}  // namespace

absl::StatusOr<v1::Operation> WaitForOperation(const Client& client,
                                               const std::string& id,
                                               const WaitOptions& options) {
  v1::WaitOperationRequest request;
  request.set_operation_id(id);
  const int64_t nanos = absl::ToInt64Nanoseconds(options.update_interval);
  request.mutable_update_interval()->set_seconds(nanos / 1000000000);
  request.mutable_update_interval()->set_nanos(
      static_cast<int32_t>(nanos % 1000000000));
  OperationReader reader = client.WaitOperation(request);
  v1::Operation last;
  bool any = false;
  const absl::Status status = ReadUpdates(reader, options, &last, &any);
  if (any && last.done()) return last;
  if (options.interrupted != nullptr && options.interrupted->load()) {
    return Interrupted(client, id);
  }
  if (!status.ok()) return status;
  return absl::UnavailableError(
      absl::StrCat("WaitOperation ended before operation ", id,
                   " did; follow it with "
                   "`winnowctl ops wait ",
                   id, "`"));
}

absl::Status OperationOutcome(const v1::Operation& op) {
  if (op.state() == v1::OPERATION_STATE_SUCCEEDED) return absl::OkStatus();
  const bool cancelled = op.state() == v1::OPERATION_STATE_CANCELLED;
  absl::StatusCode code =
      cancelled ? absl::StatusCode::kCancelled : absl::StatusCode::kUnknown;
  if (op.has_error() && op.error().code() != 0) {
    code = static_cast<absl::StatusCode>(op.error().code());
  }
  std::string message =
      absl::StrCat("operation ", op.operation_id(),
                   cancelled   ? " was cancelled"
                   : op.done() ? " failed"
                               : absl::StrCat(" is ", OperationStateName(op)));
  if (op.has_error()) absl::StrAppend(&message, ": ", op.error().message());
  return absl::Status(code, message);
}

std::string FormatFields(const Message& message, const std::string& prefix) {
  std::vector<const FieldDescriptor*> fields;
  message.GetReflection()->ListFields(message, &fields);
  std::string out;
  for (const FieldDescriptor* f : fields) {
    const std::string path = prefix + f->name();
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        !f->is_repeated()) {
      const Message& sub = message.GetReflection()->GetMessage(message, f);
      std::optional<std::string> whole = WholeMessageText(sub);
      std::string fields = whole ? "" : FormatFields(sub, path + ".");
      // A message with no field set still shows that it is set.
      if (!whole && fields.empty()) whole = "{}";
      absl::StrAppend(&out,
                      whole ? absl::StrCat(path, ": ", *whole, "\n") : fields);
      continue;
    }
    std::vector<std::string> values;
    if (f->is_repeated()) {
      const int n = message.GetReflection()->FieldSize(message, f);
      for (int i = 0; i < n; ++i) values.push_back(ValueText(message, f, i));
    } else {
      values.push_back(ValueText(message, f, -1));
    }
    absl::StrAppend(&out, path, ": ", absl::StrJoin(values, ","), "\n");
  }
  return out;
}

std::string FormatOutcome(const v1::Operation& op) {
  std::string out = absl::StrCat("operation ", op.operation_id(), " ",
                                 OperationStateName(op));
  if (op.has_start_time() && op.has_end_time()) {
    absl::StrAppend(&out, " in ",
                    absl::FormatDuration(absl::Trunc(
                        ToTime(op.end_time()) - ToTime(op.start_time()),
                        absl::Milliseconds(1))));
  }
  absl::StrAppend(&out, "\n");
  if (op.has_compute_scores_result()) {
    absl::StrAppend(&out, FormatFields(op.compute_scores_result()));
  } else if (op.has_backup()) {
    absl::StrAppend(&out, FormatFields(op.backup()));
  }
  return out;
}

absl::Status FollowOperation(const Client& client, const v1::Operation& op,
                             const WaitOptions& options, std::ostream& out) {
  const std::string& id = op.operation_id();
  if (options.no_wait) {
    out << "operation " << id << " " << OperationStateName(op)
        << "; follow it with `winnowctl ops wait " << id << "`\n";
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Operation> final = op;
  if (!op.done()) {
    if (options.progress != nullptr) {
      *options.progress << "operation " << id << " started; Ctrl-C cancels it"
                        << std::endl;
    }
    final = WaitForOperation(client, id, options);
    if (!final.ok()) return final.status();
  }
  absl::Status outcome = OperationOutcome(*final);
  if (outcome.ok()) out << FormatOutcome(*final);
  return outcome;
}

absl::StatusOr<v1::ListOperationsRequest> BuildOpsListRequest(
    const OpsListArgs& args) {
  v1::ListOperationsRequest request;
  request.set_collection(args.collection);
  for (const std::string& state : args.states) {
    bool found = false;
    for (int s = v1::OPERATION_STATE_PENDING;
         s <= v1::OPERATION_STATE_CANCELLED && !found; ++s) {
      v1::Operation op;
      op.set_state(static_cast<v1::OperationState>(s));
      if (OperationStateName(op) == state) {
        request.add_states(op.state());
        found = true;
      }
    }
    if (!found) {
      return UsageError(absl::StrCat(
          "--state must be pending, running, succeeded, failed or cancelled, "
          "not '",
          state, "'"));
    }
  }
  for (const std::string& kind : args.kinds) {
    if (kind == "compute-scores") {
      request.add_kinds(v1::OPERATION_KIND_COMPUTE_SCORES);
    } else if (kind == "backup") {
      request.add_kinds(v1::OPERATION_KIND_BACKUP);
    } else {
      return UsageError(absl::StrCat(
          "--kind must be compute-scores or backup, not '", kind, "'"));
    }
  }
  return request;
}

absl::Status RunOpsList(const Client& client, const OpsListArgs& args,
                        std::ostream& out) {
  absl::StatusOr<v1::ListOperationsRequest> request = BuildOpsListRequest(args);
  if (!request.ok()) return request.status();
  do {
    absl::StatusOr<v1::ListOperationsResponse> page =
        client.ListOperations(*request);
    if (!page.ok()) return page.status();
    for (const v1::Operation& op : page->operations()) {
      out << op.operation_id() << '\t'
          << EnumText(
                 v1::OperationKind_descriptor()->FindValueByNumber(op.kind()))
          << '\t' << OperationStateName(op) << '\t'
          << absl::StrFormat("%.1f%%", op.progress_fraction() * 100) << '\t'
          << op.collection() << '\t' << op.phase() << '\n';
    }
    request->set_page_token(page->next_page_token());
  } while (!request->page_token().empty());
  return absl::OkStatus();
}

absl::Status RunOpsGet(const Client& client, const std::string& id,
                       std::ostream& out) {
  v1::GetOperationRequest request;
  request.set_operation_id(id);
  absl::StatusOr<v1::GetOperationResponse> response =
      client.GetOperation(request);
  if (!response.ok()) return response.status();
  out << FormatFields(response->operation());
  return absl::OkStatus();
}

absl::Status RunOpsCancel(const Client& client, const std::string& id,
                          std::ostream& out) {
  v1::CancelOperationRequest request;
  request.set_operation_id(id);
  absl::StatusOr<v1::CancelOperationResponse> response =
      client.CancelOperation(request);
  if (!response.ok()) return response.status();
  const v1::Operation& op = response->operation();
  if (op.done()) {
    out << "operation " << id
        << " had already ended: " << OperationStateName(op) << "\n";
  } else {
    out << "operation " << id << ": cancel requested (it is "
        << OperationStateName(op) << " until the job stops)\n";
  }
  return absl::OkStatus();
}

absl::Status RunOpsWait(const Client& client, const std::string& id,
                        const WaitOptions& options, std::ostream& out) {
  absl::StatusOr<v1::Operation> op = WaitForOperation(client, id, options);
  if (!op.ok()) return op.status();
  absl::Status outcome = OperationOutcome(*op);
  if (outcome.ok()) out << FormatOutcome(*op);
  return outcome;
}

absl::Status RunBackup(const Client& client, const BackupArgs& args,
                       const WaitOptions& options, std::ostream& out) {
  v1::BackupRequest request;
  request.set_request_id(args.request_id);
  // The server answers after up to its --backup-wait-seconds (at most an
  // hour), which the unary deadline must not cut short.
  CallOptions call;
  call.timeout = client.options().default_timeout + absl::Hours(1);
  absl::StatusOr<v1::BackupResponse> response = client.Backup(request, call);
  if (!response.ok()) return response.status();
  return FollowOperation(client, response->operation(), options, out);
}

// --- compute ---

namespace {

const std::vector<std::string>& KMeansFlags() {
  static const auto* flags = new std::vector<std::string>{
      "--clusters",  "--iterations",      "--seed",
      "--tolerance", "--training-sample", "--init"};
  return *flags;
}

// The scorer flags given, by name.
std::vector<std::string> GivenFlags(const ComputeArgs& a) {
  const std::pair<bool, const char*> flags[] = {
      {a.kmeans.clusters.has_value(), "--clusters"},
      {a.kmeans.iterations.has_value(), "--iterations"},
      {a.kmeans.seed.has_value(), "--seed"},
      {a.kmeans.tolerance.has_value(), "--tolerance"},
      {a.kmeans.training_sample.has_value(), "--training-sample"},
      {!a.kmeans.init.empty(), "--init"},
      {!a.cluster_score.empty(), "--cluster-score"},
      {!a.distance_score.empty(), "--distance-score"},
      {a.epsilon.has_value(), "--epsilon"},
      {a.keep_ratio.has_value(), "--keep-ratio"},
      {a.compare_second_cluster, "--compare-second-cluster"},
      {!a.duplicate_score.empty(), "--duplicate-score"},
      {a.dedup_keep_ratio.has_value(), "--dedup-keep-ratio"},
      {a.total_keep_ratio.has_value(), "--total-keep-ratio"},
      {!a.pruning.empty(), "--pruning"},
      {!a.pruned_score.empty(), "--pruned-score"},
      {!a.target_ids.empty(), "--target-id"},
      {!a.target_ids_file.empty(), "--target-ids-file"},
      {!a.target_vectors.empty(), "--target-vectors"},
      {a.centroids.has_value(), "--centroids"},
      {!a.similarity_score.empty(), "--score"},
  };
  std::vector<std::string> given;
  for (const auto& [set, name] : flags) {
    if (set) given.push_back(name);
  }
  return given;
}

// The flags each kind takes.
std::vector<std::string> KindFlags(const std::string& kind) {
  std::vector<std::string> k = KMeansFlags();
  if (kind == "exact-dedup") return {"--duplicate-score"};
  if (kind == "kmeans") {
    k.insert(k.end(), {"--cluster-score", "--distance-score"});
  } else if (kind == "semdedup") {
    k.insert(k.end(),
             {"--cluster-score", "--distance-score", "--epsilon",
              "--keep-ratio", "--compare-second-cluster", "--duplicate-score"});
  } else if (kind == "d4") {
    k.insert(k.end(), {"--dedup-keep-ratio", "--total-keep-ratio", "--pruning",
                       "--pruned-score"});
  } else {  // target-similarity
    k = {"--target-id",      "--target-ids-file",
         "--target-vectors", "--centroids",
         "--seed",           "--score"};
  }
  return k;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// Fills `*k` from the k-means flags; `who` names the command for errors.
absl::Status FillKMeans(const ComputeArgs& args, const std::string& who,
                        v1::KMeansScorer* k) {
  const KMeansArgs& a = args.kmeans;
  if (!a.clusters) {
    return UsageError(absl::StrCat(who, " needs --clusters"));
  }
  k->set_cluster_count(*a.clusters);
  if (a.iterations) k->set_max_iterations(*a.iterations);
  if (a.seed) k->set_seed(*a.seed);
  if (a.tolerance) k->set_tolerance(*a.tolerance);
  if (a.training_sample) k->set_training_sample_count(*a.training_sample);
  if (a.init == "kmeans++") {
    k->set_init(v1::CENTROID_INIT_KMEANS_PLUS_PLUS);
  } else if (a.init == "random") {
    k->set_init(v1::CENTROID_INIT_RANDOM);
  } else if (!a.init.empty()) {
    return UsageError(
        absl::StrCat("--init must be kmeans++ or random, not '", a.init, "'"));
  }
  return absl::OkStatus();
}

// Whether a k-means flag other than the score names was given: semdedup
// and d4 then cluster first.
bool ClustersFirst(const ComputeArgs& args) {
  const std::vector<std::string> given = GivenFlags(args);
  for (const std::string& flag : KMeansFlags()) {
    if (Contains(given, flag)) return true;
  }
  return false;
}

absl::Status FillSemDedup(const ComputeArgs& args, v1::SemDedupScorer* s) {
  if (args.epsilon && args.keep_ratio) {
    return UsageError("--epsilon and --keep-ratio exclude each other");
  }
  if (args.epsilon) s->set_epsilon(*args.epsilon);
  if (args.keep_ratio) s->set_target_keep_ratio(*args.keep_ratio);
  s->set_compare_second_cluster(args.compare_second_cluster);
  if (ClustersFirst(args)) {
    absl::Status k =
        FillKMeans(args, "clustering first (a k-means flag was given)",
                   s->mutable_kmeans());
    if (!k.ok()) return k;
  }
  s->set_cluster_score(args.cluster_score);
  s->set_distance_score(args.distance_score);
  s->set_duplicate_score(args.duplicate_score);
  return absl::OkStatus();
}

absl::Status FillD4(const ComputeArgs& args, v1::D4Scorer* d) {
  if (args.dedup_keep_ratio) d->set_dedup_keep_ratio(*args.dedup_keep_ratio);
  if (args.total_keep_ratio) d->set_total_keep_ratio(*args.total_keep_ratio);
  if (args.pruning == "per-cluster") {
    d->set_pruning(v1::PROTOTYPE_PRUNING_PER_CLUSTER);
  } else if (args.pruning == "global") {
    d->set_pruning(v1::PROTOTYPE_PRUNING_GLOBAL);
  } else if (!args.pruning.empty()) {
    return UsageError(absl::StrCat(
        "--pruning must be per-cluster or global, not '", args.pruning, "'"));
  }
  if (ClustersFirst(args)) {
    absl::Status k =
        FillKMeans(args, "clustering with k-means flags", d->mutable_kmeans());
    if (!k.ok()) return k;
  }
  d->set_pruned_score(args.pruned_score);
  return absl::OkStatus();
}

absl::Status ReadIdsFile(const std::string& path,
                         v1::TargetSimilarityScorer* t) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view id = absl::StripAsciiWhitespace(line);
    if (!id.empty()) t->add_target_ids(std::string(id));
  }
  if (in.bad())
    return absl::DataLossError(absl::StrCat("error reading ", path));
  return absl::OkStatus();
}

absl::Status FillTarget(const ComputeArgs& args,
                        v1::TargetSimilarityScorer* t) {
  for (const std::string& id : args.target_ids) t->add_target_ids(id);
  if (!args.target_ids_file.empty()) {
    if (absl::Status s = ReadIdsFile(args.target_ids_file, t); !s.ok())
      return s;
  }
  if (!args.target_vectors.empty()) {
    NpyHeader header;
    absl::StatusOr<std::vector<float>> vectors =
        ReadNpyFile(args.target_vectors, &header);
    if (!vectors.ok()) return vectors.status();
    t->mutable_target_vectors()->Add(vectors->begin(), vectors->end());
  }
  if (t->target_ids_size() == 0 && t->target_vectors_size() == 0) {
    return UsageError(
        "target-similarity needs a target: --target-id, --target-ids-file or "
        "--target-vectors");
  }
  if (args.centroids) t->set_centroid_count(*args.centroids);
  if (args.kmeans.seed) t->set_seed(*args.kmeans.seed);
  t->set_similarity_score(args.similarity_score);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ComputeScoresRequest> BuildComputeRequest(
    const ComputeArgs& args) {
  static const char* const kKinds[] = {"exact-dedup", "kmeans", "semdedup",
                                       "d4", "target-similarity"};
  if (std::find(std::begin(kKinds), std::end(kKinds), args.kind) ==
      std::end(kKinds)) {
    return UsageError(absl::StrCat(
        "compute: the scorer must be exact-dedup, kmeans, semdedup, d4 or "
        "target-similarity, not '",
        args.kind, "'"));
  }
  const std::vector<std::string> allowed = KindFlags(args.kind);
  for (const std::string& flag : GivenFlags(args)) {
    if (!Contains(allowed, flag)) {
      return UsageError(absl::StrCat(flag, " does not apply to compute ",
                                     args.kind, " (it takes ",
                                     absl::StrJoin(allowed, ", "), ")"));
    }
  }
  v1::ComputeScoresRequest request;
  request.set_collection(args.collection);
  request.set_filter(args.filter);
  request.set_request_id(args.request_id);
  v1::Scorer* scorer = request.mutable_scorer();
  absl::Status status;
  if (args.kind == "exact-dedup") {
    scorer->mutable_exact_dedup()->set_duplicate_score(args.duplicate_score);
  } else if (args.kind == "kmeans") {
    status = FillKMeans(args, "compute kmeans", scorer->mutable_kmeans());
    scorer->mutable_kmeans()->set_cluster_score(args.cluster_score);
    scorer->mutable_kmeans()->set_distance_score(args.distance_score);
  } else if (args.kind == "semdedup") {
    status = FillSemDedup(args, scorer->mutable_semdedup());
  } else if (args.kind == "d4") {
    status = FillD4(args, scorer->mutable_d4());
  } else {
    status = FillTarget(args, scorer->mutable_target_similarity());
  }
  if (!status.ok()) return status;
  return request;
}

absl::Status RunCompute(const Client& client, const ComputeArgs& args,
                        const WaitOptions& options, std::ostream& out) {
  absl::StatusOr<v1::ComputeScoresRequest> request = BuildComputeRequest(args);
  if (!request.ok()) return request.status();
  absl::StatusOr<v1::ComputeScoresResponse> response =
      client.ComputeScores(*request);
  if (!response.ok()) return response.status();
  return FollowOperation(client, response->operation(), options, out);
}

}  // namespace winnow::ctl
