// The decoders of hf_components.h.
#include <utility>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "worker/engine/hf_components.h"
#include "worker/engine/pretokenizer.h"

namespace ablate::engine {
namespace {

class ByteLevelDecoder : public HfDecoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>& added) const override {
    std::vector<std::string> out;
    std::string run;
    bool in_run = false;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i < added.size() && added[i]) {
        if (in_run) out.push_back(std::move(run));
        run.clear();
        in_run = false;
        out.push_back(std::move(tokens[i]));
      } else {
        AppendByteLevelBytes(tokens[i], &run);
        in_run = true;
      }
    }
    if (in_run) out.push_back(std::move(run));
    return out;
  }
};

class MetaspaceDecoder : public HfDecoder {
 public:
  explicit MetaspaceDecoder(std::string replacement)
      : replacement_(std::move(replacement)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>&) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      tokens[i] = absl::StrReplaceAll(tokens[i], {{replacement_, " "}});
      if (i == 0 && !tokens[i].empty() && tokens[i][0] == ' ') tokens[i].erase(0, 1);
    }
    return tokens;
  }

 private:
  std::string replacement_;
};

class ReplaceDecoder : public HfDecoder {
 public:
  ReplaceDecoder(std::unique_ptr<HfRegex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>&) const override {
    for (std::string& token : tokens) {
      std::string out;
      size_t prev = 0;
      re_->ForEachMatch(token, [&](size_t begin, size_t end) {
        out.append(token, prev, begin - prev);
        out += content_;
        prev = end;
      });
      out.append(token, prev, std::string::npos);
      token = std::move(out);
    }
    return tokens;
  }

 private:
  std::unique_ptr<HfRegex> re_;
  std::string content_;
};

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class ByteFallbackDecoder : public HfDecoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>&) const override {
    std::vector<std::string> out;
    std::string bytes;
    for (std::string& token : tokens) {
      // As the reference: "<0x" + two characters + ">", parsed by parseInt
      // (a hex prefix of the two).
      int value = -1;
      if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' &&
          HexValue(token[3]) >= 0) {
        value = HexValue(token[3]);
        if (HexValue(token[4]) >= 0) value = value * 16 + HexValue(token[4]);
      }
      if (value >= 0) {
        bytes += static_cast<char>(value);
        continue;
      }
      if (!bytes.empty()) out.push_back(std::move(bytes));
      bytes.clear();
      out.push_back(std::move(token));
    }
    if (!bytes.empty()) out.push_back(std::move(bytes));
    return out;
  }
};

class FuseDecoder : public HfDecoder {
 public:
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>&) const override {
    return {absl::StrJoin(tokens, "")};
  }
};

class StripDecoder : public HfDecoder {
 public:
  StripDecoder(std::string content, int start, int stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>&) const override {
    if (content_.empty()) return tokens;
    const size_t n = content_.size();
    for (std::string& token : tokens) {
      size_t begin = 0;
      for (int i = 0; i < start_ && token.compare(begin, n, content_) == 0; ++i)
        begin += n;
      size_t end = token.size();
      for (int i = 0; i < stop_ && end >= begin + n &&
                      token.compare(end - n, n, content_) == 0;
           ++i)
        end -= n;
      token = token.substr(begin, end - begin);
    }
    return tokens;
  }

 private:
  std::string content_;
  int start_;
  int stop_;
};

class SequenceDecoder : public HfDecoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<HfDecoder>> parts)
      : parts_(std::move(parts)) {}
  std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                       const std::vector<bool>& added) const override {
    for (const auto& part : parts_) tokens = part->DecodeChain(std::move(tokens), added);
    return tokens;
  }

 private:
  std::vector<std::unique_ptr<HfDecoder>> parts_;
};

}  // namespace

std::unique_ptr<HfDecoder> MakeByteLevelDecoder() {
  return std::make_unique<ByteLevelDecoder>();
}
std::unique_ptr<HfDecoder> MakeMetaspaceDecoder(std::string replacement) {
  return std::make_unique<MetaspaceDecoder>(std::move(replacement));
}
std::unique_ptr<HfDecoder> MakeReplaceDecoder(std::unique_ptr<HfRegex> pattern,
                                              std::string content) {
  return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
}
std::unique_ptr<HfDecoder> MakeByteFallbackDecoder() {
  return std::make_unique<ByteFallbackDecoder>();
}
std::unique_ptr<HfDecoder> MakeFuseDecoder() { return std::make_unique<FuseDecoder>(); }
std::unique_ptr<HfDecoder> MakeStripDecoder(std::string content, int start, int stop) {
  return std::make_unique<StripDecoder>(std::move(content), start, stop);
}
std::unique_ptr<HfDecoder> MakeSequenceDecoder(
    std::vector<std::unique_ptr<HfDecoder>> parts) {
  return std::make_unique<SequenceDecoder>(std::move(parts));
}

}  // namespace ablate::engine
