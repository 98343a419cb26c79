// Copyright: the ablate authors.
//
// The project's one SHA-256 (OpenSSL libcrypto, proto/artifact/digest.h) against
// FIPS 180-4 example vectors and against Python's hashlib (values computed
// outside this project and pasted here), including every padding boundary.
#include "proto/artifact/digest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace ablate::artifact {
namespace {

// Bytes (i * 7 + 3) mod 256 for i = 0..n-1.
std::string Pattern(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i)
    s.push_back(static_cast<char>((i * 7 + 3) % 256));
  return s;
}

TEST(Sha256Test, FipsVectors) {
  EXPECT_EQ(Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(
      Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, PaddingBoundaries) {
  const std::pair<size_t, const char*> kCases[] = {
      {55, "e7313d333c272e639f790978283f9eb392e843d0f29b7016828bb1daa4aac70b"},
      {56, "4324d65f3c103567f5589c710bc08f8523f929a9272e3af36fc968e52abc6c27"},
      {63, "81c80242132f230c3bd41b3e63bbcff16107339549214a99614ff26664625055"},
      {64, "39e3d7b6b5d075d37d053ad89b24b41bef4f3c29760c84447cab3f3be1882241"},
      {65, "aacca6ff74fdbb296d165a45cecfa04e5127bc008770fbbdd48006f2d2fae95e"},
      {119, "9ce7368e4daf32341631b492e80359dc9f594b48453cd0dd5bf0b19279cc177e"},
      {120, "7836b787757e95e58b3ca5aec90b1b004e8deba1e50e9675af9cabf1a13a04b5"},
      {1000,
       "1e9bc38cbf860b9ec31918b065f9b52476c549a782e0e7990bed8ce3868d2371"}};
  for (const auto& [n, hex] : kCases)
    EXPECT_EQ(Sha256Hex(Pattern(n)), hex) << n;
}

TEST(Sha256Test, IncrementalEqualsOneShot) {
  const std::string data = Pattern(1000);
  for (size_t step : {1, 3, 63, 64, 65, 500}) {
    Sha256Stream h;
    for (size_t i = 0; i < data.size(); i += step)
      h.Update(data.substr(i, step));
    EXPECT_EQ(h.FinishHex(), Sha256Hex(data)) << step;
  }
}

TEST(Sha256Test, MillionAFile) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ablate_sha256_" + std::to_string(::getpid())))
                               .string();
  {
    std::ofstream out(path, std::ios::binary);
    out << std::string(1000000, 'a');
  }
  absl::StatusOr<std::string> hex = Sha256OfFile(path);
  std::remove(path.c_str());
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex,
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, MissingFileIsNotFound) {
  absl::StatusOr<std::string> hex =
      Sha256OfFile("/nonexistent/ablate/model.safetensors");
  ASSERT_FALSE(hex.ok());
  EXPECT_EQ(hex.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(
      hex.status().message().find("/nonexistent/ablate/model.safetensors"),
      std::string::npos);
}

}  // namespace
}  // namespace ablate::artifact
