#include "worker/engine/text_tokenizer.h"

#include <filesystem>

#include "worker/engine/hf_tokenizer.h"
#include "worker/engine/tokenizer.h"

namespace ablate::engine {

absl::StatusOr<std::unique_ptr<TextTokenizer>> LoadTokenizer(
    const std::string& dir) {
  const std::filesystem::path base(dir);
  const std::filesystem::path hf = base / "tokenizer.json";
  std::error_code ec;
  if (std::filesystem::exists(hf, ec)) {
    auto loaded =
        HfTokenizer::Load(hf.string(), (base / "tokenizer_config.json").string());
    if (!loaded.ok()) return loaded.status();
    return std::unique_ptr<TextTokenizer>(std::move(*loaded));
  }
  auto loaded = Tokenizer::Load(dir);
  if (!loaded.ok()) return loaded.status();
  return std::unique_ptr<TextTokenizer>(std::move(*loaded));
}

}  // namespace ablate::engine
