// libFuzzer target: engine::SafetensorsReader on arbitrary file bytes; every tensor the
// header validates (up to 1M elements) is read back as float32.
#include "tests/fuzz/fuzz_util.h"
#include "worker/engine/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = ablate::fuzz::WriteScratch(
      "model.safetensors", std::string_view(reinterpret_cast<const char*>(data), size));
  auto reader = ablate::engine::SafetensorsReader::Open(path);
  if (!reader.ok()) return 0;
  for (const auto& [name, entry] : (*reader)->entries()) {
    int64_t numel = 1;
    for (int64_t d : entry.shape) numel = d > 0 && numel <= (int64_t{1} << 20) ? numel * d : 0;
    if (numel > (int64_t{1} << 20)) continue;
    (void)(*reader)->ReadFloat32(entry);
  }
  return 0;
}
