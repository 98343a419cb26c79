// libFuzzer target: engine::Tokenizer::LoadFiles on arbitrary vocab.json / merges.txt, then
// Encode of arbitrary text with the tokenizer when it loaded. The input is
// "vocab\n====\nmerges\n====\ntext".
#include "tests/fuzz/fuzz_util.h"
#include "worker/engine/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto parts = ablate::fuzz::SplitInput(data, size, 3);
  const std::string vocab = ablate::fuzz::WriteScratch("vocab.json", parts[0]);
  const std::string merges = ablate::fuzz::WriteScratch("merges.txt", parts[1]);
  auto tokenizer = ablate::engine::Tokenizer::LoadFiles(vocab, merges);
  if (tokenizer.ok()) (void)(*tokenizer)->Encode(parts[2]);
  return 0;
}
