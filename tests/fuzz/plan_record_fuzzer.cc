// libFuzzer target: the plan record codec (selection/plan_record.h). Any
// bytes are decoded as a frozen record and as a plan's internal entry: the
// decoders must never crash or read past the input, and whatever decodes
// must encode to bytes that decode to the same value (the stored form of a
// plan survives a restart and a later release).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "selection/plan_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  winnow::FrozenRecord record;
  if (winnow::DecodeFrozenRecord(in, &record)) {
    // Compared through the encoding, which is a function of the value:
    // scores are compared bit for bit (a NaN is not == itself).
    const std::string bytes = winnow::EncodeFrozenRecord(record);
    winnow::FrozenRecord again;
    if (!winnow::DecodeFrozenRecord(bytes, &again) ||
        winnow::EncodeFrozenRecord(again) != bytes ||
        again.ordinals != record.ordinals || again.lengths != record.lengths ||
        again.domains != record.domains || again.run != record.run ||
        again.scores.size() != record.scores.size()) {
      std::abort();
    }
  }
  winnow::PlanInternal internal;
  if (winnow::DecodePlanInternal(in, &internal)) {
    winnow::PlanInternal again;
    if (!winnow::DecodePlanInternal(winnow::EncodePlanInternal(internal),
                                    &again) ||
        !(again == internal)) {
      std::abort();
    }
  }
  return 0;
}
