// Reading RESULT_VIEW_PACKED without copying (docs/api.md, "The packed
// view"):
//
//   winnow::v1::SampleRequest request = ...;
//   request.set_view(winnow::v1::RESULT_VIEW_PACKED);
//   winnow::SampleReader reader = client.Sample(request);
//   winnow::v1::SampleResponse response;
//   while (reader.Next(&response)) {
//     winnow::PackedIds ids(response.batch().packed());
//     for (size_t i = 0; i < ids.size(); ++i) Train(ids[i]);
//   }
//
// Each id is a std::string_view into the message's id_bytes: valid while
// the message lives and is not modified.
#ifndef WINNOW_CLIENT_PACKED_H_
#define WINNOW_CLIENT_PACKED_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "winnow/v1/common.pb.h"

namespace winnow {

class PackedIds {
 public:
  // A view of `packed`'s ids. Offsets that are not ascending or that pass
  // the end of id_bytes (a corrupt message) read as empty ids.
  explicit PackedIds(const v1::PackedDocuments& packed)
      : bytes_(packed.id_bytes()),
        ends_(packed.id_end_offsets().data()),
        size_(static_cast<size_t>(packed.id_end_offsets_size())) {}

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Id i (< size()).
  std::string_view operator[](size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    const uint32_t end = ends_[i];
    if (end < begin || end > bytes_.size()) return {};
    return bytes_.substr(begin, end - begin);
  }

 private:
  std::string_view bytes_;
  const uint32_t* ends_;
  size_t size_;
};

}  // namespace winnow

#endif  // WINNOW_CLIENT_PACKED_H_
