// Copyright: the ablate authors.
//
// The safetensors reader against hand-written bytes (so the format, not just
// our own writer, is checked), the writer's layout, and every malformed-header
// case with its message.
#include "worker/engine/safetensors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace ablate::engine {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "ablate_st_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/model.safetensors";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes an 8-byte little-endian length, the header text, then the data
  // bytes.
  void WriteRaw(const std::string& header, const std::string& data,
                uint64_t declared_len = UINT64_MAX) {
    const uint64_t n =
        declared_len == UINT64_MAX ? header.size() : declared_len;
    std::string bytes;
    for (int i = 0; i < 8; ++i)
      bytes.push_back(static_cast<char>(n >> (8 * i)));
    std::ofstream(path_, std::ios::binary) << bytes << header << data;
  }

  std::string ReadAll() {
    std::ifstream in(path_, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  absl::Status OpenStatus() { return SafetensorsReader::Open(path_).status(); }

  std::string dir_, path_;
};

TEST_F(SafetensorsTest, ReadsHandWrittenFile) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]},)"
      R"("c":{"dtype":"BF16","shape":[],"data_offsets":[12,14]},)"
      R"("d":{"dtype":"I64","shape":[1],"data_offsets":[14,22]}}     )";
  // 1.0f, -2.5f | half 1.0, -2.0 | bf16 0.5 | int64 7
  const std::string data(
      "\x00\x00\x80\x3f\x00\x00\x20\xc0"
      "\x00\x3c\x00\xc0"
      "\x00\x3f"
      "\x07\x00\x00\x00\x00\x00\x00\x00",
      22);
  WriteRaw(header, data);
  auto reader = SafetensorsReader::Open(path_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const SafetensorsReader& r = **reader;
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.entries().size(), 4u);
  EXPECT_EQ(r.Find("zz"), nullptr);

  torch::Tensor a = *r.ReadFloat32(*r.Find("a"));
  EXPECT_TRUE(torch::equal(a, torch::tensor({1.0f, -2.5f})));
  torch::Tensor b = *r.ReadFloat32(*r.Find("b"));
  EXPECT_EQ(b.sizes().vec(), std::vector<int64_t>({1, 2}));
  EXPECT_TRUE(torch::equal(b, torch::tensor({{1.0f, -2.0f}})));
  torch::Tensor c = *r.ReadFloat32(*r.Find("c"));
  EXPECT_EQ(c.dim(), 0);
  EXPECT_EQ(c.item<float>(), 0.5f);
  EXPECT_EQ(c.scalar_type(), torch::kFloat);

  absl::StatusOr<torch::Tensor> d = r.ReadFloat32(*r.Find("d"));
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(),
              AllOf(HasSubstr(path_), HasSubstr("'d'"), HasSubstr("I64")));
}

TEST_F(SafetensorsTest, WriterLayoutIsPaddedAndExact) {
  torch::Tensor x = torch::tensor({1.0f, -2.5f, 3.0f});
  ASSERT_TRUE(WriteSafetensors(path_, {{"x", x}, {"y", torch::ones({2, 2})}},
                               torch::kFloat)
                  .ok());
  const std::string bytes = ReadAll();
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + n + 7 * 4);
  EXPECT_EQ(
      bytes.substr(8 + n, 12),
      std::string("\x00\x00\x80\x3f\x00\x00\x20\xc0\x00\x00\x40\x40", 12));
  EXPECT_FALSE(std::filesystem::exists(path_ + ".partial"));
  auto r = SafetensorsReader::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->metadata().at("format"), "pt");
  EXPECT_TRUE(torch::equal(*(*r)->ReadFloat32(*(*r)->Find("x")), x));
}

TEST_F(SafetensorsTest, WriterHalfAndBFloat16) {
  torch::Tensor x = torch::tensor({1.0f, 0.1f, -3.14159f, 65504.0f});
  for (torch::ScalarType t : {torch::kHalf, torch::kBFloat16}) {
    ASSERT_TRUE(WriteSafetensors(path_, {{"x", x}}, t).ok());
    auto r = SafetensorsReader::Open(path_);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ((*r)->Find("x")->dtype, t == torch::kHalf ? "F16" : "BF16");
    EXPECT_TRUE(torch::equal(*(*r)->ReadFloat32(*(*r)->Find("x")),
                             x.to(t).to(torch::kFloat)));
  }
}

TEST_F(SafetensorsTest, WriterRejectsBadInput) {
  torch::Tensor x = torch::ones({2});
  EXPECT_FALSE(
      WriteSafetensors(path_, {{"x", x}, {"x", x}}, torch::kFloat).ok());
  EXPECT_FALSE(WriteSafetensors(path_, {{"", x}}, torch::kFloat).ok());
  EXPECT_FALSE(WriteSafetensors(path_, {{"i", torch::ones({2}, torch::kLong)}},
                                torch::kFloat)
                   .ok());
  EXPECT_FALSE(WriteSafetensors(path_, {{"x", x}}, torch::kDouble).ok());
  EXPECT_FALSE(WriteSafetensors(dir_ + "/no/such/dir/m.safetensors", {{"x", x}},
                                torch::kFloat)
                   .ok());
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(SafetensorsTest, MissingFile) {
  absl::Status s = OpenStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr(path_));
}

TEST_F(SafetensorsTest, TooShortForHeaderLength) {
  std::ofstream(path_, std::ios::binary) << "abcde";
  EXPECT_THAT(OpenStatus().message(),
              AllOf(HasSubstr(path_), HasSubstr("truncated")));
  std::ofstream(path_, std::ios::binary).close();
  EXPECT_THAT(OpenStatus().message(), HasSubstr("truncated"));
}

TEST_F(SafetensorsTest, HeaderLengthLargerThanFile) {
  WriteRaw("{}", "", 1000);
  EXPECT_THAT(OpenStatus().message(),
              AllOf(HasSubstr(path_), HasSubstr("header length 1000")));
  WriteRaw("{}", "", UINT64_MAX - 1);
  EXPECT_THAT(OpenStatus().message(),
              HasSubstr("larger than the rest of the file"));
}

TEST_F(SafetensorsTest, BadHeaderJson) {
  WriteRaw(R"({"a": {"dtype": "F32", )", "");
  EXPECT_THAT(OpenStatus().message(),
              AllOf(HasSubstr(path_), HasSubstr("bad header JSON")));
  WriteRaw("[1, 2]", "");
  EXPECT_THAT(OpenStatus().message(), HasSubstr("not an object"));
  WriteRaw(R"({"__metadata__": {"format": 3}})", "");
  EXPECT_THAT(OpenStatus().message(), HasSubstr("__metadata__"));
}

// Each malformed entry gives a message naming the file and the tensor.
TEST_F(SafetensorsTest, MalformedEntries) {
  const std::string data(16, '\0');
  const std::pair<std::string, std::string> kCases[] = {
      {R"({"w": 5})", "not an object"},
      {R"({"w": {"dtype": "F32", "shape": [2]}})", "no \"data_offsets\""},
      {R"({"w": {"dtype": 7, "shape": [2], "data_offsets": [0, 8]}})",
       "dtype not a string"},
      {R"({"w": {"dtype": "Q4", "shape": [2], "data_offsets": [0, 8]}})",
       "unknown dtype 'Q4'"},
      {R"({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
       "not a size"},
      {R"({"w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})",
       "not an array"},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})",
       "not a range"},
      {R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})",
       "not a range"},
      {R"({"w": {"dtype": "F32", "shape": [6], "data_offsets": [0, 24]}})",
       "run past the end"},
      {R"({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
       "need 12"},
      {R"({"w": {"dtype": "F16", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})",
       "need 18446744073709551615"},
  };
  for (const auto& [header, expected] : kCases) {
    WriteRaw(header, data);
    EXPECT_THAT(
        OpenStatus().message(),
        AllOf(HasSubstr(path_), HasSubstr("tensor 'w'"), HasSubstr(expected)))
        << header;
  }
}

TEST_F(SafetensorsTest, OverlappingTensors) {
  WriteRaw(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
           R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
           std::string(12, '\0'));
  EXPECT_THAT(OpenStatus().message(),
              AllOf(HasSubstr(path_), HasSubstr("'b'"), HasSubstr("overlap"),
                    HasSubstr("'a'")));
}

TEST_F(SafetensorsTest, ZeroSizedTensorsAndDtypeSizes) {
  WriteRaw(
      R"({"e": {"dtype": "F32", "shape": [0, 3], "data_offsets": [0, 0]}})",
      "");
  auto r = SafetensorsReader::Open(path_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)->ReadFloat32(*(*r)->Find("e"))->numel(), 0);
  EXPECT_EQ(SafetensorsDtypeSize("BF16"), 2);
  EXPECT_EQ(SafetensorsDtypeSize("F64"), 8);
  EXPECT_EQ(SafetensorsDtypeSize("bf16"), 0);
}

}  // namespace
}  // namespace ablate::engine
