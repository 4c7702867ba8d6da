#include "selection/plan_record.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace winnow {
namespace {

constexpr uint32_t kFrozenFormat = 3;
// Candidates only, without the form byte; still decoded.
constexpr uint32_t kFrozenFormatCandidates = 2;
constexpr uint32_t kInternalFormat = 1;

template <typename T>
void PutArray(std::string* out, const T* data, uint64_t n) {
  out->append(reinterpret_cast<const char*>(&n), 8);
  out->append(reinterpret_cast<const char*>(data), n * sizeof(T));
}

template <typename T>
void PutArray(std::string* out, const std::vector<T>& v) {
  PutArray(out, v.data(), v.size());
}

template <typename T>
bool GetArray(std::string_view* in, std::vector<T>* v) {
  uint64_t n = 0;
  if (in->size() < 8) return false;
  std::memcpy(&n, in->data(), 8);
  in->remove_prefix(8);
  if (n > in->size() / sizeof(T)) return false;
  v->resize(n);
  if (n > 0) std::memcpy(v->data(), in->data(), n * sizeof(T));
  in->remove_prefix(n * sizeof(T));
  return true;
}

bool GetString(std::string_view* in, std::string* s) {
  std::vector<char> chars;
  if (!GetArray(in, &chars)) return false;
  s->assign(chars.begin(), chars.end());
  return true;
}

bool GetBytes(std::string_view* in, void* p, size_t n) {
  if (in->size() < n) return false;
  std::memcpy(p, in->data(), n);
  in->remove_prefix(n);
  return true;
}

void EncodeOrdinals(const std::vector<uint32_t>& ordinals, std::string* out) {
  const size_t n = ordinals.size();
  const bool ascending = std::adjacent_find(ordinals.begin(), ordinals.end(),
                                            [](uint32_t a, uint32_t b) {
                                              return a >= b;
                                            }) == ordinals.end();
  const uint64_t bits = n == 0 ? 0 : uint64_t{ordinals.back()} + 1;
  if (ascending && bits / 8 < n * 4) {
    out->push_back(1);
    std::vector<uint64_t> words((bits + 63) / 64, 0);
    for (uint32_t o : ordinals) words[o / 64] |= uint64_t{1} << (o % 64);
    PutArray(out, words);
  } else {
    out->push_back(0);
    PutArray(out, ordinals);
  }
}

bool DecodeOrdinals(std::string_view* in, std::vector<uint32_t>* ordinals) {
  char mode = 0;
  if (!GetBytes(in, &mode, 1)) return false;
  if (mode == 0) return GetArray(in, ordinals);
  if (mode != 1) return false;
  std::vector<uint64_t> words;
  if (!GetArray(in, &words)) return false;
  // A bitmap past 2^32 ordinals is not one this encoder wrote.
  if (words.size() > (uint64_t{1} << 32) / 64) return false;
  size_t count = 0;
  for (uint64_t w : words) count += std::popcount(w);
  ordinals->reserve(count);
  for (size_t w = 0; w < words.size(); ++w) {
    for (uint64_t x = words[w]; x != 0; x &= x - 1) {
      ordinals->push_back(static_cast<uint32_t>(w * 64 + std::countr_zero(x)));
    }
  }
  return true;
}

}  // namespace

std::string EncodeFrozenRecord(const FrozenRecord& f) {
  std::string out;
  out.reserve(64 + f.ordinals.size() * 4 + f.lengths.size() * 4 +
              f.scores.size() * 4 + f.domains.size() * 2);
  out.append(reinterpret_cast<const char*>(&kFrozenFormat), 4);
  out.push_back(f.run ? 1 : 0);
  EncodeOrdinals(f.ordinals, &out);
  const bool short_lengths = std::all_of(f.lengths.begin(), f.lengths.end(),
                                         [](uint32_t l) { return l < 65536; });
  if (short_lengths) {
    out.push_back(1);
    PutArray(&out, std::vector<uint16_t>(f.lengths.begin(), f.lengths.end()));
  } else {
    out.push_back(0);
    PutArray(&out, f.lengths);
  }
  PutArray(&out, f.scores);
  PutArray(&out, f.domains);
  return out;
}

bool DecodeFrozenRecord(std::string_view in, FrozenRecord* f) {
  *f = FrozenRecord();
  uint32_t format = 0;
  if (!GetBytes(&in, &format, 4)) return false;
  if (format == kFrozenFormat) {
    char form = 0;
    if (!GetBytes(&in, &form, 1) || (form != 0 && form != 1)) return false;
    f->run = form == 1;
  } else if (format != kFrozenFormatCandidates) {
    return false;
  }
  if (!DecodeOrdinals(&in, &f->ordinals)) return false;
  char length_mode = 0;
  if (!GetBytes(&in, &length_mode, 1)) return false;
  if (length_mode == 1) {
    std::vector<uint16_t> lengths;
    if (!GetArray(&in, &lengths)) return false;
    f->lengths.assign(lengths.begin(), lengths.end());
  } else if (length_mode != 0 || !GetArray(&in, &f->lengths)) {
    return false;
  }
  return GetArray(&in, &f->scores) && GetArray(&in, &f->domains) &&
         in.empty() && f->lengths.size() == f->ordinals.size() &&
         (!f->run || (f->scores.empty() && f->domains.empty())) &&
         (f->scores.empty() || f->scores.size() == f->ordinals.size()) &&
         (f->domains.empty() || f->domains.size() == f->ordinals.size());
}

std::string EncodePlanInternal(const PlanInternal& in) {
  std::string out;
  auto put = [&](const void* p, size_t n) {
    out.append(static_cast<const char*>(p), n);
  };
  put(&kInternalFormat, 4);
  put(&in.collection_id, 4);
  put(&in.freeze_seq, 8);
  put(&in.checkpoint_every, 8);
  put(&in.num_epochs, 8);
  PutArray(&out, in.key.data(), in.key.size());
  PutArray(&out, in.owner.data(), in.owner.size());
  return out;
}

bool DecodePlanInternal(std::string_view in, PlanInternal* out) {
  *out = PlanInternal();
  uint32_t format = 0;
  return GetBytes(&in, &format, 4) && format == kInternalFormat &&
         GetBytes(&in, &out->collection_id, 4) &&
         GetBytes(&in, &out->freeze_seq, 8) &&
         GetBytes(&in, &out->checkpoint_every, 8) &&
         GetBytes(&in, &out->num_epochs, 8) && GetString(&in, &out->key) &&
         GetString(&in, &out->owner) && in.empty();
}

}  // namespace winnow
