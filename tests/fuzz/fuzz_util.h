// Helpers for the libFuzzer targets: the loaders under test read files, so each input is
// written to a scratch file (on /dev/shm when present) first.
#ifndef ABLATE_TESTS_FUZZ_FUZZ_UTIL_H_
#define ABLATE_TESTS_FUZZ_FUZZ_UTIL_H_

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

namespace ablate::fuzz {

// A per-process scratch folder, created once.
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string d = base + "/ablate-fuzz-" + std::to_string(getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline std::string WriteScratch(const std::string& name, std::string_view bytes) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  return path;
}

// Splits the input at the first `parts - 1` occurrences of "\n====\n".
inline std::vector<std::string_view> SplitInput(const uint8_t* data, size_t size, int parts) {
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  std::vector<std::string_view> out;
  constexpr std::string_view kSep = "\n====\n";
  while (static_cast<int>(out.size()) < parts - 1) {
    size_t at = rest.find(kSep);
    if (at == std::string_view::npos) break;
    out.push_back(rest.substr(0, at));
    rest.remove_prefix(at + kSep.size());
  }
  out.push_back(rest);
  while (static_cast<int>(out.size()) < parts) out.push_back({});
  return out;
}

}  // namespace ablate::fuzz

#endif  // ABLATE_TESTS_FUZZ_FUZZ_UTIL_H_
