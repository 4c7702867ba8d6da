#include "client/winnowctl/jsonl.h"

#include <cmath>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace winnow::ctl {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

absl::Status Invalid(const std::string& message) {
  return absl::InvalidArgumentError(message);
}

// absl::string_view is not std::string_view in Debian's Abseil.
absl::string_view AV(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

const char* TypeName(element_type type) {
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

bool IsNumber(element_type type) {
  return type == element_type::INT64 || type == element_type::UINT64 ||
         type == element_type::DOUBLE;
}

// The float nearest a JSON number, or false when it is outside the float
// range (converting such a double to float is undefined behaviour).
bool ToFloat(element value, float* out) {
  double d = 0;
  if (value.get_double().get(d)) return false;
  if (!std::isfinite(d) || std::fabs(d) > std::numeric_limits<float>::max()) {
    return false;
  }
  *out = static_cast<float>(d);
  return true;
}

bool IsNameChar(char c, bool first) {
  return (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

// [a-z_][a-z0-9_]*
bool MatchesNamePattern(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0)) return false;
  }
  return true;
}

absl::Status ParseScores(element value, ParsedDocument* doc) {
  simdjson::dom::object scores;
  if (value.get_object().get(scores)) {
    return Invalid(
        absl::StrCat("field 'scores' must be an object of name: number, not ",
                     TypeName(value.type())));
  }
  for (simdjson::dom::key_value_pair score : scores) {
    const std::string_view name = score.key;
    if (!IsValidScoreName(name)) {
      return Invalid(absl::StrCat(
          "score name '", AV(name),
          "' must match [a-z_][a-z0-9_]* and not be a reserved word"));
    }
    for (const auto& [seen, unused] : doc->scores) {
      if (seen == name)
        return Invalid(absl::StrCat("duplicate score '", AV(name), "'"));
    }
    const element_type type = score.value.type();
    if (type == element_type::NULL_VALUE) continue;  // a null score
    if (!IsNumber(type)) {
      return Invalid(absl::StrCat("score '", AV(name),
                                  "' must be a number, not ", TypeName(type)));
    }
    float f = 0;
    if (!ToFloat(score.value, &f)) {
      return Invalid(
          absl::StrCat("score '", AV(name), "' is outside the float range"));
    }
    doc->scores.emplace_back(name, f);
  }
  return absl::OkStatus();
}

absl::Status ParseAttributes(element value, ParsedDocument* doc) {
  simdjson::dom::object attributes;
  if (value.get_object().get(attributes)) {
    return Invalid(absl::StrCat(
        "field 'attributes' must be an object of key: string, not ",
        TypeName(value.type())));
  }
  for (simdjson::dom::key_value_pair attribute : attributes) {
    const std::string_view key = attribute.key;
    if (!MatchesNamePattern(key)) {
      return Invalid(absl::StrCat("attribute key '", AV(key),
                                  "' must match [a-z_][a-z0-9_]*"));
    }
    // The server's message (storage/names.cc), for the same rule.
    if (IsReservedName(key)) {
      return Invalid(absl::StrCat("attributes.", AV(key), ": '", AV(key),
                                  "' is a reserved name"));
    }
    for (const auto& [seen, unused] : doc->attributes) {
      if (seen == key) {
        return Invalid(absl::StrCat("duplicate attribute '", AV(key), "'"));
      }
    }
    const element_type type = attribute.value.type();
    if (type == element_type::NULL_VALUE) continue;
    std::string_view text;
    if (attribute.value.get_string().get(text)) {
      return Invalid(absl::StrCat("attribute '", AV(key),
                                  "' must be a string, not ", TypeName(type)));
    }
    // An empty value means "lacks the key" in the columnar form.
    if (!text.empty()) doc->attributes.emplace_back(key, text);
  }
  return absl::OkStatus();
}

absl::Status ParseEmbedding(element value, int dimension, ParsedDocument* doc) {
  simdjson::dom::array values;
  if (value.get_array().get(values)) {
    return Invalid(
        absl::StrCat("field 'embedding' must be an array of numbers, not ",
                     TypeName(value.type())));
  }
  const size_t size = values.size();
  if (size == 0) return absl::OkStatus();  // no embedding
  if (dimension == 0) {
    return Invalid(
        "field 'embedding' is set but the collection has no embeddings "
        "(embedding_dimension 0)");
  }
  if (size != static_cast<size_t>(dimension)) {
    return Invalid(absl::StrCat(
        "field 'embedding' has ", size,
        " values; the collection's embedding_dimension is ", dimension));
  }
  doc->embedding.reserve(size);
  size_t i = 0;
  for (element x : values) {
    float f = 0;
    if (!IsNumber(x.type())) {
      return Invalid(absl::StrCat("embedding[", i, "] must be a number, not ",
                                  TypeName(x.type())));
    }
    if (!ToFloat(x, &f)) {
      return Invalid(
          absl::StrCat("embedding[", i, "] is outside the float range"));
    }
    doc->embedding.push_back(f);
    ++i;
  }
  return absl::OkStatus();
}

}  // namespace

void ParsedDocument::Clear() {
  id.clear();
  domain.clear();
  length = 0;
  scores.clear();
  attributes.clear();
  payload.clear();
  embedding.clear();
}

bool IsReservedName(std::string_view name) {
  // As storage/names.cc.
  static constexpr std::string_view kReserved[] = {
      "and", "or",     "not",    "in", "is_null",
      "pct", "domain", "length", "id", "attr"};
  for (std::string_view reserved : kReserved) {
    if (name == reserved) return true;
  }
  return false;
}

bool IsValidScoreName(std::string_view name) {
  return MatchesNamePattern(name) && !IsReservedName(name);
}

bool IsValidAttributeKey(std::string_view key) { return IsValidScoreName(key); }

DocumentParser::DocumentParser(int embedding_dimension)
    : embedding_dimension_(embedding_dimension) {}

bool DocumentParser::IsBlank(std::string_view line) {
  return absl::StripAsciiWhitespace(AV(line)).empty();
}

absl::Status DocumentParser::Parse(std::string_view line, ParsedDocument* doc) {
  doc->Clear();
  element root;
  // realloc_if_needed: the line is copied into simdjson's padded buffer.
  if (simdjson::error_code error =
          parser_.parse(line.data(), line.size(), true).get(root)) {
    return Invalid(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  simdjson::dom::object object;
  if (root.get_object().get(object)) {
    return Invalid(
        absl::StrCat("a line must be a JSON object (one document), not ",
                     TypeName(root.type())));
  }
  enum : uint32_t {
    kId = 1,
    kDomain = 2,
    kLength = 4,
    kScores = 8,
    kAttributes = 16,
    kPayload = 32,
    kEmbedding = 64,
  };
  uint32_t seen = 0;
  for (simdjson::dom::key_value_pair field : object) {
    const std::string_view key = field.key;
    const element value = field.value;
    const element_type type = value.type();
    uint32_t bit = 0;
    if (key == "id") {
      bit = kId;
    } else if (key == "domain") {
      bit = kDomain;
    } else if (key == "length") {
      bit = kLength;
    } else if (key == "scores") {
      bit = kScores;
    } else if (key == "attributes") {
      bit = kAttributes;
    } else if (key == "payload") {
      bit = kPayload;
    } else if (key == "embedding") {
      bit = kEmbedding;
    } else {
      return Invalid(absl::StrCat(
          "unknown field '", AV(key),
          "' (known: id, domain, length, scores, attributes, payload, "
          "embedding)"));
    }
    if (seen & bit)
      return Invalid(absl::StrCat("duplicate field '", AV(key), "'"));
    seen |= bit;
    if (type == element_type::NULL_VALUE && bit != kId) continue;  // absent

    std::string_view text;
    switch (bit) {
      case kId:
        if (value.get_string().get(text)) {
          return Invalid(absl::StrCat("field 'id' must be a string, not ",
                                      TypeName(type)));
        }
        if (text.empty()) return Invalid("field 'id' must not be empty");
        doc->id.assign(text);
        break;
      case kDomain:
        if (value.get_string().get(text)) {
          return Invalid(absl::StrCat("field 'domain' must be a string, not ",
                                      TypeName(type)));
        }
        doc->domain.assign(text);
        break;
      case kLength: {
        int64_t length = 0;
        if (type != element_type::INT64 && type != element_type::UINT64) {
          return Invalid(absl::StrCat(
              "field 'length' must be a whole number of tokens, not ",
              type == element_type::DOUBLE ? "a fraction" : TypeName(type)));
        }
        if (type == element_type::UINT64 || value.get_int64().get(length)) {
          return Invalid("field 'length' is too large");
        }
        if (length < 0) {
          return Invalid(absl::StrCat(
              "field 'length' must not be negative, got ", length));
        }
        doc->length = length;
        break;
      }
      case kScores:
        if (absl::Status s = ParseScores(value, doc); !s.ok()) return s;
        break;
      case kAttributes:
        if (absl::Status s = ParseAttributes(value, doc); !s.ok()) return s;
        break;
      case kPayload:
        if (value.get_string().get(text)) {
          return Invalid(absl::StrCat("field 'payload' must be a string, not ",
                                      TypeName(type)));
        }
        doc->payload.assign(text);
        break;
      case kEmbedding:
        if (absl::Status s = ParseEmbedding(value, embedding_dimension_, doc);
            !s.ok()) {
          return s;
        }
        break;
    }
  }
  if (!(seen & kId)) return Invalid("missing field 'id'");
  return absl::OkStatus();
}

ColumnarBatchBuilder::ColumnarBatchBuilder(std::string collection)
    : collection_(std::move(collection)) {
  Reset();
}

void ColumnarBatchBuilder::Reset() {
  ids_.clear();
  score_columns_.clear();
  attribute_columns_.clear();
  request_.Clear();
  request_.set_collection(collection_);
  has_embeddings_ = false;
  any_payload_ = false;
  any_length_ = false;
}

bool ColumnarBatchBuilder::Accepts(const ParsedDocument& doc) const {
  if (empty()) return true;
  if (has_embeddings_ == doc.embedding.empty()) return false;
  return !ids_.contains(doc.id);
}

namespace {

// Fills positions [values_size, n) of a column with nulls.
void PadScores(v1::ScoreColumn* column, int n) {
  while (column->values_size() < n) {
    column->add_null_indexes(static_cast<uint32_t>(column->values_size()));
    column->add_values(0);
  }
}

void PadAttributes(v1::AttributeColumn* column, int n) {
  while (column->values_size() < n) column->add_values();
}

}  // namespace

void ColumnarBatchBuilder::Add(const ParsedDocument& doc) {
  v1::DocumentColumns* columns = request_.mutable_columns();
  const int n = columns->ids_size();  // this document's position
  if (n == 0) has_embeddings_ = !doc.embedding.empty();
  columns->add_ids(doc.id);
  ids_.insert(columns->ids(n));
  columns->add_domains(doc.domain);
  columns->add_lengths(doc.length);
  any_length_ |= doc.length != 0;
  columns->add_payloads(doc.payload);
  any_payload_ |= !doc.payload.empty();
  columns->mutable_embeddings()->Add(doc.embedding.begin(),
                                     doc.embedding.end());
  for (const auto& [name, value] : doc.scores) {
    auto [it, inserted] =
        score_columns_.try_emplace(name, columns->scores_size());
    v1::ScoreColumn* column =
        inserted ? columns->add_scores() : columns->mutable_scores(it->second);
    if (inserted) column->set_name(name);
    PadScores(column, n);
    column->add_values(value);
  }
  for (const auto& [key, value] : doc.attributes) {
    auto [it, inserted] =
        attribute_columns_.try_emplace(key, columns->attributes_size());
    v1::AttributeColumn* column = inserted
                                      ? columns->add_attributes()
                                      : columns->mutable_attributes(it->second);
    if (inserted) column->set_key(key);
    PadAttributes(column, n);
    column->add_values(value);
  }
}

v1::UpsertDocumentsRequest ColumnarBatchBuilder::Take() {
  v1::DocumentColumns* columns = request_.mutable_columns();
  const int n = columns->ids_size();
  for (v1::ScoreColumn& column : *columns->mutable_scores()) {
    PadScores(&column, n);
  }
  for (v1::AttributeColumn& column : *columns->mutable_attributes()) {
    PadAttributes(&column, n);
  }
  if (!any_payload_) columns->clear_payloads();
  if (!any_length_) columns->clear_lengths();
  bool one_domain = true;
  for (int i = 1; i < n && one_domain; ++i) {
    one_domain = columns->domains(i) == columns->domains(0);
  }
  if (n > 0 && one_domain) {
    if (columns->domains(0).empty()) {
      columns->clear_domains();
    } else {
      columns->mutable_domains()->DeleteSubrange(1, n - 1);
    }
  }
  v1::UpsertDocumentsRequest batch = std::move(request_);
  Reset();
  return batch;
}

}  // namespace winnow::ctl
