#include "client/winnowctl/operations.h"

#include <cctype>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/winnowctl/commands.h"
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

}  // namespace winnow::ctl
