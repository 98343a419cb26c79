// libFuzzer target: engine::LoadTokenizer on a folder holding an arbitrary tokenizer.json
// and tokenizer_config.json (Hugging Face format: JSON parsing, every normalizer,
// pre-tokenizer and decoder the loader accepts, regexes compiled by PCRE2), then Encode and
// Decode of arbitrary text with the tokenizer when it loaded. The input is
// "tokenizer.json\n====\ntokenizer_config.json\n====\ntext".
#include "tests/fuzz/fuzz_util.h"
#include "worker/engine/text_tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = ablate::fuzz::SplitInput(data, size, 3);
  ablate::fuzz::WriteScratch("tokenizer.json", parts[0]);
  ablate::fuzz::WriteScratch("tokenizer_config.json", parts[1]);
  auto tokenizer = ablate::engine::LoadTokenizer(ablate::fuzz::ScratchDir());
  if (!tokenizer.ok()) return 0;
  const std::vector<int> ids = (*tokenizer)->Encode(parts[2]);
  (void)(*tokenizer)->Decode(ids);
  return 0;
}
