// libFuzzer target: the model archive reader (artifact::ReadArchiveMembers) and, for an
// archive it accepts, UnpackArchive into a fresh folder.
#include <filesystem>

#include "proto/artifact/model_archive.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ablate::fuzz::WriteScratch(
      "model.tar", std::string_view(reinterpret_cast<const char*>(data), size));
  if (!ablate::artifact::ReadArchiveMembers(path).ok()) return 0;
  const std::string dir = ablate::fuzz::ScratchDir() + "/unpacked";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  (void)ablate::artifact::UnpackArchive(path, dir);
  std::filesystem::remove_all(dir, ec);
  return 0;
}
