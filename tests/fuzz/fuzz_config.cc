// libFuzzer target: engine::ParseModelConfig on arbitrary config.json text.
#include <string>

#include "worker/engine/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)ablate::engine::ParseModelConfig(text, "config.json");
  return 0;
}
