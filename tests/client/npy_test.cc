// winnowctl's .npy reader: every format version, both dtypes, and every
// malformed header or file refused with a message naming what is wrong.
#include "client/winnowctl/npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/client/npy_files.h"

namespace winnow::ctl {
namespace {

using testing_npy::Float32Npy;
using testing_npy::NpyBytes;
using testing_npy::NpyDict;
using testing_npy::WriteTemp;

std::vector<std::vector<float>> ReadAll(NpyReader& reader) {
  std::vector<std::vector<float>> rows;
  std::vector<float> row;
  while (reader.ReadRow(&row).ok()) rows.push_back(row);
  return rows;
}

TEST(NpyTest, ReadsFloat32RowsOfEveryFormatVersion) {
  for (int major : {1, 2, 3}) {
    const std::string path =
        WriteTemp(Float32Npy(3, 2, {1, 2, 3, 4, 5, -6.5f}, major));
    absl::StatusOr<std::unique_ptr<NpyReader>> reader = NpyReader::Open(path);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_EQ((*reader)->header().rows, 3);
    EXPECT_EQ((*reader)->header().cols, 2);
    EXPECT_EQ((*reader)->header().item_size, 4);
    EXPECT_EQ((*reader)->header().data_offset % 64, 0) << major;
    EXPECT_EQ(ReadAll(**reader),
              (std::vector<std::vector<float>>{{1, 2}, {3, 4}, {5, -6.5f}}));
    std::vector<float> row;
    EXPECT_EQ((*reader)->ReadRow(&row).code(), absl::StatusCode::kOutOfRange);
    ASSERT_TRUE((*reader)->Seek(1).ok());
    ASSERT_TRUE((*reader)->ReadRow(&row).ok());
    EXPECT_EQ(row, (std::vector<float>{3, 4}));
    EXPECT_EQ((*reader)->Seek(4).code(), absl::StatusCode::kOutOfRange);
  }
}

TEST(NpyTest, ConvertsFloat16) {
  // 1, -2.5, 0.5, 65504 (largest), 2^-24 (smallest subnormal), +inf.
  const uint16_t halves[] = {0x3c00, 0xc100, 0x3800, 0x7bff, 0x0001, 0x7c00};
  std::string data(reinterpret_cast<const char*>(halves), sizeof(halves));
  const std::string path = WriteTemp(NpyBytes(NpyDict("<f2", 2, 3), data));
  absl::StatusOr<std::unique_ptr<NpyReader>> reader = NpyReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->header().item_size, 2);
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(ReadAll(**reader),
            (std::vector<std::vector<float>>{
                {1, -2.5f, 0.5f}, {65504, std::ldexp(1.0f, -24), inf}}));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_EQ(HalfToFloat(0x8000), 0.0f);
  EXPECT_TRUE(std::signbit(HalfToFloat(0x8000)));
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
}

TEST(NpyTest, AcceptsTheDictInAnyOrderAndSpelling) {
  for (const char* dict :
       {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }",
        "{\"shape\":(2,1),\"descr\":\"<f4\",\"fortran_order\":False}",
        "{ 'fortran_order' : False , 'shape' : ( 2 , 1 , ) , 'descr' : '<f4' "
        "}"}) {
    absl::StatusOr<NpyHeader> h = ParseNpyHeaderDict(dict);
    ASSERT_TRUE(h.ok()) << dict << ": " << h.status();
    EXPECT_EQ(h->rows, 2);
    EXPECT_EQ(h->cols, 1);
  }
}

// Each malformed dict and a phrase its error must hold.
TEST(NpyTest, RefusesEveryMalformedDict) {
  const std::pair<const char*, const char*> cases[] = {
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }",
       "fortran_order is True"},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 1), }",
       "dtype '<f8' is not supported"},
      {"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 1), }",
       "dtype '>f4' is not supported"},
      {"{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }",
       "dtype '<i4'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
       "shape has 1 dimensions: expected 2"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 1), }",
       "shape has 3 dimensions"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
       "shape has 0 dimensions"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0), }",
       "rows have no values"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 1), }",
       "'shape': expected a non-negative integer"},
      {"{'descr': '<f4', 'fortran_order': False}", "lacks key 'shape'"},
      {"{'descr': '<f4', 'shape': (2, 1)}", "lacks key 'fortran_order'"},
      {"{'fortran_order': False, 'shape': (2, 1)}", "lacks key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), 'x': 1}",
       "unexpected key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
       "'shape': (2, 1)}",
       "repeats key 'descr'"},
      {"{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 1)}",
       "'fortran_order': expected True or False"},
      {"{'descr': <f4, 'fortran_order': False, 'shape': (2, 1)}",
       "'descr': expected a quoted string"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2, 1)}",
       "dtype '<f4, ' is not supported"},
      {"{'descr' '<f4', 'fortran_order': False, 'shape': (2, 1)}",
       "expected ':' after a key"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2, 1)}",
       "expected ',' or '}'"},
      {"['<f4', False, (2, 1)]", "not a dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1)} x",
       "text after the dict"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': 2}",
       "'shape': expected a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, "
       "99999999999)}",
       "too large"},
  };
  for (const auto& [dict, phrase] : cases) {
    absl::StatusOr<NpyHeader> h = ParseNpyHeaderDict(dict);
    ASSERT_FALSE(h.ok()) << dict;
    EXPECT_EQ(h.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(h.status().message().find(phrase), absl::string_view::npos)
        << dict << " -> " << h.status().message();
  }
}

TEST(NpyTest, RefusesBadPreamblesAndSizesNamingTheFile) {
  const std::string good = Float32Npy(2, 2, {1, 2, 3, 4});
  std::string version4 = good;
  version4[6] = 4;
  const std::pair<std::string, const char*> cases[] = {
      {"just text, not numpy", "not a .npy file"},
      {"", "not a .npy file"},
      {good.substr(0, 9), "truncated in its header"},
      {good.substr(0, 40), "truncated in its header"},
      {version4, "format version 4.0 is not supported"},
      {good.substr(0, good.size() - 1), "truncated: shape (2, 2)"},
      {good + "xx", "too long"},
  };
  for (const auto& [bytes, phrase] : cases) {
    const std::string path = WriteTemp(bytes);
    absl::StatusOr<std::unique_ptr<NpyReader>> reader = NpyReader::Open(path);
    ASSERT_FALSE(reader.ok()) << phrase;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(reader.status().message().rfind(path + ": ", 0), 0u)
        << reader.status();
    EXPECT_NE(reader.status().message().find(phrase), absl::string_view::npos)
        << reader.status();
  }
  EXPECT_EQ(NpyReader::Open("/nonexistent/x.npy").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(NpyTest, ReadsAWholeFile) {
  NpyHeader header;
  absl::StatusOr<std::vector<float>> all =
      ReadNpyFile(WriteTemp(Float32Npy(2, 2, {1, 2, 3, 4}, 2)), &header);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(header.rows, 2);
}

}  // namespace
}  // namespace winnow::ctl
