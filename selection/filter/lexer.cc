#include "selection/filter/lexer.h"

#include <charconv>
#include <string>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "selection/filter/errors.h"

namespace winnow::filter {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsWordStart(char c) { return IsLower(c) || IsUpper(c) || c == '_'; }
bool IsWordChar(char c) { return IsWordStart(c) || IsDigit(c); }
bool HasUpper(std::string_view s) {
  for (char c : s) {
    if (IsUpper(c)) return true;
  }
  return false;
}

struct Keyword {
  std::string_view word;
  TokenKind kind;
};
constexpr Keyword kKeywords[] = {
    {"and", TokenKind::kAnd},        {"or", TokenKind::kOr},
    {"not", TokenKind::kNot},        {"in", TokenKind::kIn},
    {"is_null", TokenKind::kIsNull}, {"pct", TokenKind::kPct},
    {"domain", TokenKind::kDomain},  {"length", TokenKind::kLength},
    {"id", TokenKind::kId},
};

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  absl::StatusOr<std::vector<Token>> Run() {
    std::vector<Token> tokens;
    while (true) {
      SkipSpaceAndComments();
      Token token;
      token.pos = pos_;
      size_t start = i_;
      if (i_ == text_.size()) {
        token.kind = TokenKind::kEnd;
        tokens.push_back(std::move(token));
        return tokens;
      }
      absl::Status status = Next(token);
      if (!status.ok()) return status;
      if (token.kind != TokenKind::kString) {
        token.text = std::string(text_.substr(start, i_ - start));
      }
      tokens.push_back(std::move(token));
    }
  }

 private:
  char Peek(size_t ahead = 0) const {
    return i_ + ahead < text_.size() ? text_[i_ + ahead] : '\0';
  }

  // Consumes one byte, keeping the line and column of the next one.
  void Advance() {
    char c = text_[i_++];
    if (c == '\n') {
      ++pos_.line;
      pos_.column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      // A continuation byte belongs to the code point already counted.
      ++pos_.column;
    }
  }

  void SkipSpaceAndComments() {
    while (i_ < text_.size()) {
      char c = text_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
          c == '\v') {
        Advance();
      } else if (c == '#') {
        while (i_ < text_.size() && text_[i_] != '\n') Advance();
      } else {
        return;
      }
    }
  }

  absl::Status Error(std::string_view what, Position pos,
                     std::string_view hint = {}) {
    return FilterError(what, pos, hint);
  }

  absl::Status Next(Token& token) {
    char c = Peek();
    auto single = [&](TokenKind kind) {
      Advance();
      token.kind = kind;
      return absl::OkStatus();
    };
    auto pair = [&](TokenKind kind) {
      Advance();
      Advance();
      token.kind = kind;
      return absl::OkStatus();
    };
    switch (c) {
      case '(':
        return single(TokenKind::kLParen);
      case ')':
        return single(TokenKind::kRParen);
      case ',':
        return single(TokenKind::kComma);
      case '=':
        if (Peek(1) == '=') return pair(TokenKind::kEq);
        return Error("unexpected '='", pos_, "did you mean '=='?");
      case '!':
        if (Peek(1) == '=') return pair(TokenKind::kNe);
        return Error("unexpected '!'", pos_, "use 'not' for negation");
      case '<':
        if (Peek(1) == '=') return pair(TokenKind::kLe);
        return single(TokenKind::kLt);
      case '>':
        if (Peek(1) == '=') return pair(TokenKind::kGe);
        return single(TokenKind::kGt);
      case '&':
        return Error("unexpected '&'", pos_, "use 'and'");
      case '|':
        return Error("unexpected '|'", pos_, "use 'or'");
      case '\'':
        return Error("unexpected single quote", pos_,
                     "strings are written in double quotes");
      case '"':
        return LexString(token);
      default:
        break;
    }
    if (IsDigit(c) || (c == '.' && IsDigit(Peek(1)))) return LexNumber(token);
    if (c == '+' || c == '-') {
      if (IsDigit(Peek(1)) || (Peek(1) == '.' && IsDigit(Peek(2)))) {
        return LexNumber(token);
      }
      return Error(absl::StrFormat("unexpected '%c'", c), pos_,
                   "a sign must be followed by a number");
    }
    if (IsWordStart(c)) return LexWord(token);
    return Error(absl::StrCat("unexpected character ", DescribeChar()), pos_);
  }

  // The character at i_ for an error message: 'c' when printable ASCII, the
  // whole UTF-8 sequence in quotes otherwise, \xNN for a control byte.
  std::string DescribeChar() const {
    unsigned char c = static_cast<unsigned char>(text_[i_]);
    if (c >= 0x20 && c < 0x7F) return absl::StrCat("'", std::string(1, c), "'");
    if (c >= 0xC0) {
      size_t end = i_ + 1;
      while (end < text_.size() &&
             (static_cast<unsigned char>(text_[end]) & 0xC0) == 0x80) {
        ++end;
      }
      return absl::StrCat("'", std::string(text_.substr(i_, end - i_)), "'");
    }
    return absl::StrFormat("'\\x%02X'", c);
  }

  absl::Status LexString(Token& token) {
    Position open = pos_;
    size_t start = i_;
    Advance();  // the opening quote
    std::string value;
    while (true) {
      if (i_ == text_.size() || Peek() == '\n') {
        return Error("unterminated string", open,
                     "a string must close with '\"' on the same line");
      }
      char c = Peek();
      if (c == '"') {
        Advance();
        break;
      }
      if (c == '\\') {
        char e = Peek(1);
        if (e == '"' || e == '\\') {
          value.push_back(e);
          Advance();
          Advance();
          continue;
        }
        Position at = pos_;
        std::string shown =
            (e >= 0x20 && e < 0x7F) ? std::string(1, e)
            : e == '\0'
                ? std::string()
                : absl::StrFormat("\\x%02X", static_cast<unsigned char>(e));
        return Error(absl::StrCat("unknown escape '\\", shown, "' in string"),
                     at, "only \\\" and \\\\ are allowed");
      }
      value.push_back(c);
      Advance();
    }
    token.kind = TokenKind::kString;
    token.value = std::move(value);
    token.text = std::string(text_.substr(start, i_ - start));
    return absl::OkStatus();
  }

  absl::Status LexNumber(Token& token) {
    Position at = pos_;
    size_t start = i_;
    if (Peek() == '+' || Peek() == '-') Advance();
    while (IsDigit(Peek())) Advance();
    if (Peek() == '.') {
      Advance();
      while (IsDigit(Peek())) Advance();
    }
    bool ok = true;
    if (Peek() == 'e' || Peek() == 'E') {
      Advance();
      if (Peek() == '+' || Peek() == '-') Advance();
      if (!IsDigit(Peek())) ok = false;
      while (IsDigit(Peek())) Advance();
    }
    if (IsWordChar(Peek()) || Peek() == '.') {
      ok = false;
      while (IsWordChar(Peek()) || Peek() == '.') Advance();
    }
    std::string_view text = text_.substr(start, i_ - start);
    if (!ok) {
      return Error(absl::StrCat("malformed number '", std::string(text), "'"),
                   at);
    }
    // std::from_chars takes no leading '+'; the value is unchanged by it.
    std::string_view digits = text[0] == '+' ? text.substr(1) : text;
    double value = 0;
    auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec == std::errc::result_out_of_range) {
      return Error(
          absl::StrCat("number '", std::string(text), "' is out of range"), at,
          "a number must be a finite double, at most about 1.8e308 "
          "and at least about 4.9e-324 in magnitude, or zero");
    }
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      return Error(absl::StrCat("malformed number '", std::string(text), "'"),
                   at);
    }
    token.kind = TokenKind::kNumber;
    token.number = value;
    return absl::OkStatus();
  }

  absl::Status LexWord(Token& token) {
    Position at = pos_;
    size_t start = i_;
    while (IsWordChar(Peek())) Advance();
    std::string_view word = text_.substr(start, i_ - start);
    if (word == "attr") return LexAttr(token, at, start);
    if (HasUpper(word)) return UpperCaseError(word, at);
    for (const Keyword& k : kKeywords) {
      if (k.word == word) {
        token.kind = k.kind;
        return absl::OkStatus();
      }
    }
    token.kind = TokenKind::kName;
    token.value = std::string(word);
    return absl::OkStatus();
  }

  absl::Status LexAttr(Token& token, Position at, size_t start) {
    if (Peek() != '.') {
      return Error("'attr' must be followed by '.key'", at,
                   "attributes are written attr.key, as in attr.lang");
    }
    Advance();
    Position key_at = pos_;
    size_t key_start = i_;
    while (IsWordChar(Peek())) Advance();
    std::string_view key = text_.substr(key_start, i_ - key_start);
    if (key.empty() || IsDigit(key[0])) {
      return Error("expected an attribute key after 'attr.'", key_at,
                   "keys match [a-z_][a-z0-9_]*");
    }
    if (HasUpper(key)) {
      return UpperCaseError(text_.substr(start, i_ - start), at);
    }
    token.kind = TokenKind::kAttr;
    token.value = std::string(key);
    return absl::OkStatus();
  }

  absl::Status UpperCaseError(std::string_view word, Position at) {
    return Error(
        absl::StrCat("upper-case letters in '", std::string(word), "'"), at,
        absl::StrCat("keywords and names are lower case (did you "
                     "mean '",
                     absl::AsciiStrToLower(std::string(word)), "'?)"));
  }

  std::string_view text_;
  size_t i_ = 0;
  Position pos_;
};

}  // namespace

std::string Position::ToString() const {
  return absl::StrCat(line, ":", column);
}

absl::StatusOr<std::vector<Token>> Lex(std::string_view text) {
  return Lexer(text).Run();
}

std::string_view OperatorText(TokenKind kind) {
  switch (kind) {
    case TokenKind::kEq:
      return "==";
    case TokenKind::kNe:
      return "!=";
    case TokenKind::kLt:
      return "<";
    case TokenKind::kLe:
      return "<=";
    case TokenKind::kGt:
      return ">";
    case TokenKind::kGe:
      return ">=";
    default:
      return "?";
  }
}

std::string DescribeToken(const Token& token) {
  switch (token.kind) {
    case TokenKind::kEnd:
      return "end of filter";
    case TokenKind::kNumber:
      return absl::StrCat("number ", token.text);
    case TokenKind::kString:
      return absl::StrCat("string ", token.text);
    case TokenKind::kName:
      return absl::StrCat("name '", token.value, "'");
    default:
      return absl::StrCat("'", token.text, "'");
  }
}

bool IsReservedWord(std::string_view word) {
  if (word == "attr") return true;
  for (const Keyword& k : kKeywords) {
    if (k.word == word) return true;
  }
  return false;
}

}  // namespace winnow::filter
