#include "selection/feedback.h"

#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_format.h"

namespace winnow {
namespace {

constexpr uint8_t kRecordVersion = 1;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}
void PutString(std::string* out, std::string_view s) {
  Put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out->append(s);
}

// A bounds-checked little-endian reader.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : p_(bytes) {}
  template <typename T>
  bool Get(T* v) {
    if (p_.size() < sizeof(T)) return false;
    std::memcpy(v, p_.data(), sizeof(T));
    p_.remove_prefix(sizeof(T));
    return true;
  }
  bool GetString(std::string* s) {
    uint32_t n;
    if (!Get(&n) || p_.size() < n) return false;
    s->assign(p_.data(), n);
    p_.remove_prefix(n);
    return true;
  }
  template <typename T>
  bool GetArray(uint32_t n, std::vector<T>* v) {
    if (p_.size() / sizeof(T) < n) return false;
    v->resize(n);
    std::memcpy(v->data(), p_.data(), size_t{n} * sizeof(T));
    p_.remove_prefix(size_t{n} * sizeof(T));
    return true;
  }
  bool done() const { return p_.empty(); }

 private:
  std::string_view p_;
};

}  // namespace

bool IsFeedbackColumnName(std::string_view name) {
  for (const char* n : kFeedbackColumnNames) {
    if (name == n) return true;
  }
  return false;
}

void UpdateLossState(LossState& s, int64_t step, float loss, double half_life) {
  if (s.count == 0) {
    s.first_step = s.last_step = step;
    s.first_loss = s.last_loss = loss;
    s.count = 1;
    s.sum_w = 1.0;
    s.sum_wl = loss;
    return;
  }
  ++s.count;
  // Ties go to the later arrival.
  if (step <= s.first_step) {
    s.first_step = step;
    s.first_loss = loss;
  }
  if (step >= s.last_step) {
    // S grows: rescale the sums to weights relative to the new S.
    const double scale =
        std::exp2(-static_cast<double>(step - s.last_step) / half_life);
    s.sum_w = s.sum_w * scale + 1.0;
    s.sum_wl = s.sum_wl * scale + loss;
    s.last_step = step;
    s.last_loss = loss;
  } else {
    const double w =
        std::exp2(-static_cast<double>(s.last_step - step) / half_life);
    s.sum_w += w;
    s.sum_wl += w * loss;
  }
}

std::array<float, kNumFeedbackColumns> FeedbackValues(const LossState& s,
                                                      float irreducible) {
  std::array<float, kNumFeedbackColumns> v;
  if (s.count == 0) {
    v.fill(std::numeric_limits<float>::quiet_NaN());
    return v;
  }
  v[kLossFirst] = s.first_loss;
  v[kLossLast] = s.last_loss;
  v[kLossEma] = static_cast<float>(s.sum_wl / s.sum_w);
  v[kLossCount] = static_cast<float>(s.count);
  v[kLearnability] = s.first_loss - s.last_loss;
  v[kReducibleLoss] = std::isnan(irreducible)
                          ? std::numeric_limits<float>::quiet_NaN()
                          : s.last_loss - irreducible;
  return v;
}

std::string EncodeFeedbackRecord(const FeedbackRecord& r) {
  std::string out;
  out.reserve(64 + r.stream_id.size() + r.plan_id.size() +
              r.ordinals.size() * 8 + r.steps.size() * 8);
  Put<uint8_t>(&out, kRecordVersion);
  PutString(&out, r.stream_id);
  Put<uint64_t>(&out, r.sequence);
  PutString(&out, r.plan_id);
  Put<uint32_t>(&out, static_cast<uint32_t>(r.ordinals.size()));
  out.append(reinterpret_cast<const char*>(r.ordinals.data()),
             r.ordinals.size() * sizeof(uint32_t));
  out.append(reinterpret_cast<const char*>(r.losses.data()),
             r.losses.size() * sizeof(float));
  Put<uint32_t>(&out, static_cast<uint32_t>(r.steps.size()));
  out.append(reinterpret_cast<const char*>(r.steps.data()),
             r.steps.size() * sizeof(int64_t));
  Put<uint32_t>(&out, static_cast<uint32_t>(r.domain_losses.size()));
  for (const DomainLossValue& d : r.domain_losses) {
    PutString(&out, d.domain);
    Put<double>(&out, d.excess_loss);
  }
  return out;
}

bool DecodeFeedbackRecord(std::string_view bytes, FeedbackRecord* r) {
  Reader in(bytes);
  uint8_t version;
  uint32_t n, num_steps, num_domains;
  if (!in.Get(&version) || version != kRecordVersion ||
      !in.GetString(&r->stream_id) || !in.Get(&r->sequence) ||
      !in.GetString(&r->plan_id) || !in.Get(&n) ||
      !in.GetArray(n, &r->ordinals) || !in.GetArray(n, &r->losses) ||
      !in.Get(&num_steps) || !in.GetArray(num_steps, &r->steps) ||
      !in.Get(&num_domains)) {
    return false;
  }
  if (n > 0 && num_steps != 1 && num_steps != n) return false;
  r->domain_losses.clear();
  for (uint32_t k = 0; k < num_domains; ++k) {
    DomainLossValue& d = r->domain_losses.emplace_back();
    if (!in.GetString(&d.domain) || !in.Get(&d.excess_loss)) return false;
  }
  return in.done();
}

std::string EncodeLossStateBlock(std::span<const LossState> states) {
  std::string out;
  for (size_t i = 0; i < states.size(); ++i) {
    const LossState& s = states[i];
    if (s.count == 0) continue;
    Put<uint32_t>(&out, static_cast<uint32_t>(i));
    Put<int64_t>(&out, s.first_step);
    Put<int64_t>(&out, s.last_step);
    Put<float>(&out, s.first_loss);
    Put<float>(&out, s.last_loss);
    Put<uint32_t>(&out, s.count);
    Put<double>(&out, s.sum_w);
    Put<double>(&out, s.sum_wl);
  }
  return out;
}

bool DecodeLossStateBlock(std::string_view bytes, std::span<LossState> states) {
  Reader in(bytes);
  while (!in.done()) {
    uint32_t i;
    LossState s;
    if (!in.Get(&i) || !in.Get(&s.first_step) || !in.Get(&s.last_step) ||
        !in.Get(&s.first_loss) || !in.Get(&s.last_loss) || !in.Get(&s.count) ||
        !in.Get(&s.sum_w) || !in.Get(&s.sum_wl) || i >= states.size()) {
      return false;
    }
    states[i] = s;
  }
  return true;
}

absl::Status ValidateFeedbackRequest(const FeedbackRequestView& r) {
  if (r.stream_id.empty()) {
    return absl::InvalidArgumentError(
        "stream_id: is empty; a reporting stream needs an id (for example "
        "\"<run_id>/rank-0\") so that resends apply once");
  }
  if (r.num_ids > 0 && r.num_ordinals > 0) {
    return absl::InvalidArgumentError(
        "ids, ordinals: give samples by ids or by ordinals, not both");
  }
  const size_t n = r.num_ids + r.num_ordinals;
  if (r.losses.size() != n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "losses: %d losses for %d samples; want %d", r.losses.size(), n, n));
  }
  if (n > 0 && r.steps.size() != 1 && r.steps.size() != n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "steps: %d steps for %d samples; want 1 or %d", r.steps.size(), n, n));
  }
  for (size_t i = 0; i < r.losses.size(); ++i) {
    const float l = r.losses[i];
    if (!std::isfinite(l) || l < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "losses[%d]: %f is %s; losses must be finite and >= 0", i, l,
          std::isnan(l) ? "NaN" : (std::isinf(l) ? "infinite" : "negative")));
    }
  }
  for (size_t i = 0; i < r.steps.size(); ++i) {
    if (r.steps[i] < 0) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "steps[%d]: %d is negative; steps count from 0", i, r.steps[i]));
    }
  }
  if (!r.domain_losses.empty()) {
    if (r.plan_id.empty()) {
      return absl::InvalidArgumentError(
          "plan_id: is empty; domain_losses update a plan's live mixture, so "
          "a message with domain_losses must name its plan");
    }
    if (r.steps.size() != 1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "steps: a message with domain_losses needs exactly one step, got %d",
          r.steps.size()));
    }
    for (size_t k = 0; k < r.domain_losses.size(); ++k) {
      const DomainLossValue& d = r.domain_losses[k];
      if (d.domain.empty()) {
        return absl::InvalidArgumentError(
            absl::StrFormat("domain_losses[%d].domain: is empty", k));
      }
      if (!std::isfinite(d.excess_loss) || d.excess_loss < 0) {
        return absl::InvalidArgumentError(absl::StrFormat(
            "domain_losses[%d].excess_loss: %f must be finite and >= 0", k,
            d.excess_loss));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace winnow
