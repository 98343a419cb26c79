// Copyright: the ablate authors.
//
// Helpers shared by the artifact tests: temporary folders and fake checkpoint folders (the
// archive format does not look inside the files, so random bytes do).
#ifndef ABLATE_TESTS_ARTIFACTS_TEST_UTIL_H_
#define ABLATE_TESTS_ARTIFACTS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace ablate::testing {

// A fresh folder under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ablate-art-XXXXXX").string();
    path_ = ::mkdtemp(&tmpl[0]);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// config.json, model.safetensors (`weights_bytes` random bytes), vocab.json, merges.txt.
inline void MakeModelFolder(const std::string& dir, size_t weights_bytes, uint32_t seed) {
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/config.json", "{\"n_layer\": 2, \"n_head\": 2, \"seed\": " +
                                      std::to_string(seed) + "}\n");
  WriteFile(dir + "/model.safetensors", RandomBytes(weights_bytes, seed));
  WriteFile(dir + "/vocab.json", "{\"a\": 0, \"b\": 1}\n");
  WriteFile(dir + "/merges.txt", "#version: 0.2\na b\n");
}

}  // namespace ablate::testing

#endif  // ABLATE_TESTS_ARTIFACTS_TEST_UTIL_H_
