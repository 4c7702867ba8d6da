// libFuzzer target: request handling from raw protobuf bytes, as gRPC hands
// them to the server. The first byte picks a request type; the rest is
// parsed as that message and run through the server's validation and
// conversion (server/validation.h, server/convert.h) -- everything a
// handler does before it reaches the store or the engine. A crash, a
// sanitizer report or an error without a message is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "google/protobuf/stubs/logging.h"
#include "server/convert.h"
#include "server/validation.h"
#include "winnow/v1/collection.pb.h"
#include "winnow/v1/document.pb.h"
#include "winnow/v1/score.pb.h"
#include "winnow/v1/selection.pb.h"

namespace {

void Check(const absl::Status& status) {
  if (!status.ok() && status.message().empty()) std::abort();
}

template <typename Message>
bool Parse(const uint8_t* data, size_t size, Message* message) {
  return message->ParseFromArray(data, static_cast<int>(size));
}

}  // namespace

// Parse errors of invalid UTF-8 are expected; keep them out of the log.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t kind = data[0];
  ++data;
  --size;
  using namespace winnow;
  switch (kind % 7) {
    case 0: {
      v1::SampleRequest r;
      if (Parse(data, size, &r))
        Check(server::ValidateSampleRequest(r).status());
      break;
    }
    case 1: {
      v1::FilterRequest r;
      if (Parse(data, size, &r))
        Check(server::ValidateFilterRequest(r).status());
      break;
    }
    case 2: {
      v1::CountRequest r;
      if (Parse(data, size, &r)) Check(server::ValidateCountRequest(r));
      break;
    }
    case 3: {
      v1::UpsertDocumentsRequest r;
      if (!Parse(data, size, &r)) break;
      server::UpsertBatch batch;
      Check(batch.Build(r));
      break;
    }
    case 4: {
      v1::PutScoresRequest r;
      if (Parse(data, size, &r)) Check(server::ToScoreBatch(r).status());
      break;
    }
    case 5: {
      v1::GetDocumentsRequest r;
      if (Parse(data, size, &r)) {
        Check(server::ParseReadMask(r.read_mask()).status());
        Check(server::RequireCollection(r.collection()));
      }
      break;
    }
    case 6: {
      v1::CreateCollectionRequest r;
      if (Parse(data, size, &r)) {
        Check(server::ToCollectionSpec(r.collection()).status());
      }
      break;
    }
  }
  return 0;
}
