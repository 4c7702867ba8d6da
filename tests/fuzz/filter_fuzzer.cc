// libFuzzer target: the filter language (selection/filter/). Any bytes are
// compiled against a small collection; a filter that compiles is evaluated
// and its canonical text must compile again to the same text and the same
// rows. Anything else (a crash, a sanitizer report, a broken round trip)
// is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "selection/bitmap.h"
#include "selection/columns.h"
#include "selection/filter/filter.h"

namespace {

constexpr float kNull = __builtin_nanf("");

struct Collection {
  Collection() : live(8, true) {
    live.Clear(7);
    for (int i = 0; i < 8; ++i) ids.push_back("doc-" + std::to_string(i));
    columns.num_rows = 8;
    columns.live = &live;
    columns.length = length;
    columns.domain = domain;
    columns.domain_names = domain_names;
    columns.scores.emplace("quality", quality);
    columns.scores.emplace("edu", edu);
    columns.attributes.emplace("lang",
                               winnow::InternedColumn{lang, lang_values});
    columns.find_id = [this](std::string_view id) -> std::optional<uint32_t> {
      for (uint32_t i = 0; i < ids.size(); ++i) {
        if (ids[i] == id) return i;
      }
      return std::nullopt;
    };
  }

  winnow::Bitmap live;
  std::vector<std::string> ids;
  std::vector<float> quality = {0.1f,  0.5f, kNull, 0.9f,
                                -0.0f, 0.5f, kNull, 0.7f};
  std::vector<float> edu = {0, 1, 2, -1, 3, kNull, 5, 9};
  std::vector<uint32_t> length = {10,   2048,        16777217, 0,
                                  2047, 4294967295u, 100,      5};
  std::vector<uint32_t> domain = {0, 1, 2, 0, 1, 2, 0, 1};
  std::vector<std::string> domain_names = {"web", "wiki", "code"};
  std::vector<uint32_t> lang = {1, 2, 0, 1, 0, 3, 2, 1};
  std::vector<std::string> lang_values = {"en", "de", "fr"};
  winnow::ColumnSet columns;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Collection* collection = new Collection();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<winnow::Filter> filter =
      winnow::Filter::Compile(text, collection->columns);
  if (!filter.ok()) {
    // Errors are INVALID_ARGUMENT (or FAILED_PRECONDITION for ids), never
    // anything else, and always say something.
    if (filter.status().message().empty()) std::abort();
    return 0;
  }
  winnow::Bitmap rows;
  const size_t matches = filter->EvaluateInto(collection->columns, &rows);
  if (matches != rows.Count()) std::abort();
  // The canonical text is a fixed point that selects the same rows.
  absl::StatusOr<winnow::Filter> again =
      winnow::Filter::Compile(filter->ToString(), collection->columns);
  if (!again.ok()) std::abort();
  if (again->ToString() != filter->ToString()) std::abort();
  if (again->Evaluate(collection->columns).ToOrdinals() != rows.ToOrdinals()) {
    std::abort();
  }
  return 0;
}
