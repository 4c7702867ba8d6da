#include "server/rpc_scope.h"

#include <spdlog/spdlog.h>

#include <atomic>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/service_env.h"

namespace winnow::server {
namespace {

constexpr char kRequestIdKey[] = "x-request-id";

std::string NewRequestId() {
  static std::atomic<uint64_t> next{1};
  return absl::StrFormat("r%x", next.fetch_add(1, std::memory_order_relaxed));
}

bool UsableClientId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!absl::ascii_isgraph(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[] = {"OK",
                                           "CANCELLED",
                                           "UNKNOWN",
                                           "INVALID_ARGUMENT",
                                           "DEADLINE_EXCEEDED",
                                           "NOT_FOUND",
                                           "ALREADY_EXISTS",
                                           "PERMISSION_DENIED",
                                           "RESOURCE_EXHAUSTED",
                                           "FAILED_PRECONDITION",
                                           "ABORTED",
                                           "OUT_OF_RANGE",
                                           "UNIMPLEMENTED",
                                           "INTERNAL",
                                           "UNAVAILABLE",
                                           "DATA_LOSS",
                                           "UNAUTHENTICATED"};
  int c = static_cast<int>(code);
  return c >= 0 && c <= 16 ? kNames[c] : "UNKNOWN";
}

// The message as one log-line value: quotes, backslashes and control
// characters escaped, so a line is always one event.
std::string Quote(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\x%02x", c);
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

RpcScope::~RpcScope() { calls_in_flight_.fetch_sub(1); }

RpcScope::RpcScope(grpc::ServerContextBase* context, std::string_view method,
                   RpcType type, ServiceEnv& env)
    : method_(method),
      type_(type),
      rpc_metrics_(env.metrics != nullptr ? env.metrics->ForMethod(method, type)
                                          : nullptr),
      start_(std::chrono::steady_clock::now()),
      calls_in_flight_(env.calls_in_flight) {
  calls_in_flight_.fetch_add(1);
  if (rpc_metrics_ != nullptr) {
    rpc_metrics_->Started();
    // The one request of a unary or server-streaming call has arrived.
    if (type == RpcType::kUnary || type == RpcType::kServerStream) {
      rpc_metrics_->MessageReceived();
    }
  }
  const auto& metadata = context->client_metadata();
  auto it = metadata.find(kRequestIdKey);
  if (it != metadata.end() &&
      UsableClientId(std::string_view(it->second.data(), it->second.size()))) {
    request_id_.assign(it->second.data(), it->second.size());
  } else {
    request_id_ = NewRequestId();
  }
  context->AddInitialMetadata(kRequestIdKey, request_id_);
}

void RpcScope::Note(std::string_view key, std::string_view value) {
  absl::StrAppend(&notes_, " ", absl::string_view(key.data(), key.size()), "=",
                  absl::string_view(value.data(), value.size()));
}

void RpcScope::Note(std::string_view key, int64_t value) {
  absl::StrAppend(&notes_, " ", absl::string_view(key.data(), key.size()), "=",
                  value);
}

void RpcScope::set_principal(Principal principal) {
  principal_ = std::move(principal);
  if (!principal_.name.empty()) Note("token", principal_.name);
}

grpc::Status RpcScope::Done(grpc::Status status) {
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - start_)
                  .count();
  grpc::StatusCode code = status.error_code();
  if (rpc_metrics_ != nullptr) {
    if (type_ == RpcType::kUnary && code == grpc::StatusCode::OK) {
      rpc_metrics_->MessageSent();
    }
    rpc_metrics_->Handled(code, ms / 1000);
  }
  const bool streaming = type_ != RpcType::kUnary;
  spdlog::level::level_enum level = spdlog::level::info;
  if (code == grpc::StatusCode::OK) {
    // Unary calls can come thousands a second; streams are few and long.
    level = streaming ? spdlog::level::info : spdlog::level::debug;
  } else if (code == grpc::StatusCode::INTERNAL ||
             code == grpc::StatusCode::DATA_LOSS ||
             code == grpc::StatusCode::UNKNOWN) {
    level = spdlog::level::err;
  }
  if (spdlog::should_log(level)) {
    if (status.ok()) {
      spdlog::log(level, "rpc method={} request_id={} code=OK ms={:.3f}{}",
                  method_, request_id_, ms, notes_);
    } else {
      spdlog::log(
          level, "rpc method={} request_id={} code={} ms={:.3f}{} error=\"{}\"",
          method_, request_id_, CodeName(code), ms, notes_,
          Quote(status.error_message()));
    }
  }
  return status;
}

}  // namespace winnow::server
