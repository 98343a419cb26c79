// Building normalizers, pre-tokenizers and decoders from tokenizer.json.
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "worker/engine/hf_json.h"

namespace ablate::engine {

absl::StatusOr<Json> ReadJson(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  try {
    return Json::parse(text.str());
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: invalid JSON at byte %d: %s", path, e.byte, e.what()));
  } catch (const Json::exception& e) {  // e.g. out_of_range: a number beyond a double
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid JSON: ", e.what()));
  }
}

namespace {

absl::StatusOr<std::string> Type(const Fields& f, const Json& obj, const std::string& field) {
  if (!obj.is_object() || !obj.contains("type") || !obj["type"].is_string())
    return f.Error(field, "must be an object with a \"type\"");
  return obj["type"].get<std::string>();
}

absl::StatusOr<std::unique_ptr<HfPreTokenizer>> BuildSplit(const Fields& f, const Json& p,
                                                          const std::string& field) {
  auto invert = f.Bool(p, field, "invert", false);
  if (!invert.ok()) return invert.status();
  if (*invert) return f.Unsupported(field + ".invert", true);
  auto behavior = f.String(p, field, "behavior", "Isolated");
  if (!behavior.ok()) return behavior.status();
  if (*behavior != "Isolated")
    return f.Error(field + ".behavior", absl::StrCat("\"", *behavior,
                                                     "\" is not supported (only \"Isolated\")"));
  auto re = f.Pattern(p, field);
  if (!re.ok()) return re.status();
  return MakeSplitPreTokenizer(*std::move(re));
}

absl::StatusOr<std::unique_ptr<HfPreTokenizer>> BuildMetaspace(const Fields& f, const Json& p,
                                                              const std::string& field) {
  auto replacement = f.String(p, field, "replacement", "\u2581");
  if (!replacement.ok()) return replacement.status();
  auto str_rep = f.String(p, field, "str_rep", "");
  if (!str_rep.ok()) return str_rep.status();
  if (!str_rep->empty() && *str_rep != *replacement)
    return f.Error(field + ".str_rep", "differing from replacement is not supported");
  auto scheme = f.String(p, field, "prepend_scheme", "");
  if (!scheme.ok()) return scheme.status();
  if (scheme->empty()) {
    auto add_prefix_space = f.Bool(p, field, "add_prefix_space", true);
    if (!add_prefix_space.ok()) return add_prefix_space.status();
    if (!*add_prefix_space)
      return f.Error(field + ".add_prefix_space",
                     "false without a prepend_scheme is not supported (the reference "
                     "prepends anyway)");
    scheme = "always";
  }
  PrependScheme s;
  if (*scheme == "always") s = PrependScheme::kAlways;
  else if (*scheme == "first") s = PrependScheme::kFirst;
  else if (*scheme == "never") s = PrependScheme::kNever;
  else return f.Unsupported(field + ".prepend_scheme", *scheme);
  return MakeMetaspacePreTokenizer(*replacement, s);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HfNormalizer>> BuildNormalizer(const Fields& f,
                                                             const Json& n,
                                                             const std::string& field) {
  if (n.is_null()) return nullptr;
  absl::StatusOr<std::string> type = Type(f, n, field);
  if (!type.ok()) return type.status();
  if (*type == "NFC") return MakeUnicodeNormalizer(UnicodeForm::kNfc);
  if (*type == "NFD") return MakeUnicodeNormalizer(UnicodeForm::kNfd);
  if (*type == "NFKC") return MakeUnicodeNormalizer(UnicodeForm::kNfkc);
  if (*type == "NFKD") return MakeUnicodeNormalizer(UnicodeForm::kNfkd);
  if (*type == "Prepend") {
    auto prepend = f.String(n, field, "prepend", "");
    if (!prepend.ok()) return prepend.status();
    return MakePrependNormalizer(*prepend);
  }
  if (*type == "Replace") {
    auto re = f.Pattern(n, field);
    if (!re.ok()) return re.status();
    auto content = f.String(n, field, "content", "");
    if (!content.ok()) return content.status();
    if (content->find('$') != std::string::npos)
      return f.Error(field + ".content", "'$' (a JavaScript replacement pattern) is not supported");
    return MakeReplaceNormalizer(*std::move(re), *content);
  }
  if (*type == "Sequence") {
    if (!n.contains("normalizers") || !n["normalizers"].is_array())
      return f.Error(field + ".normalizers", "must be an array");
    std::vector<std::unique_ptr<HfNormalizer>> parts;
    for (size_t i = 0; i < n["normalizers"].size(); ++i) {
      auto part = BuildNormalizer(f, n["normalizers"][i],
                                  absl::StrCat(field, ".normalizers[", i, "]"));
      if (!part.ok()) return part.status();
      if (*part) parts.push_back(*std::move(part));
    }
    return MakeSequenceNormalizer(std::move(parts));
  }
  return f.Error(field + ".type", absl::StrCat("\"", *type, "\" is not supported (supported: "
                                               "NFC, NFD, NFKC, NFKD, Prepend, Replace, Sequence)"));
}

absl::StatusOr<std::unique_ptr<HfPreTokenizer>> BuildPreTokenizer(const Fields& f,
                                                                 const Json& p,
                                                                 const std::string& field) {
  if (p.is_null()) return nullptr;
  absl::StatusOr<std::string> type = Type(f, p, field);
  if (!type.ok()) return type.status();
  if (*type == "ByteLevel") {
    auto add_prefix_space = f.Bool(p, field, "add_prefix_space", false);
    if (!add_prefix_space.ok()) return add_prefix_space.status();
    auto use_regex = f.Bool(p, field, "use_regex", true);
    if (!use_regex.ok()) return use_regex.status();
    return MakeByteLevelPreTokenizer(*add_prefix_space, *use_regex);
  }
  if (*type == "Split") return BuildSplit(f, p, field);
  if (*type == "Metaspace") return BuildMetaspace(f, p, field);
  if (*type == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array())
      return f.Error(field + ".pretokenizers", "must be an array");
    std::vector<std::unique_ptr<HfPreTokenizer>> parts;
    for (size_t i = 0; i < p["pretokenizers"].size(); ++i) {
      auto part = BuildPreTokenizer(f, p["pretokenizers"][i],
                                    absl::StrCat(field, ".pretokenizers[", i, "]"));
      if (!part.ok()) return part.status();
      if (*part) parts.push_back(*std::move(part));
    }
    return MakeSequencePreTokenizer(std::move(parts));
  }
  return f.Error(field + ".type", absl::StrCat("\"", *type, "\" is not supported (supported: "
                                               "ByteLevel, Split, Metaspace, Sequence)"));
}

absl::StatusOr<std::unique_ptr<HfDecoder>> BuildDecoder(const Fields& f, const Json& d,
                                                       const std::string& field) {
  if (d.is_null()) return nullptr;
  absl::StatusOr<std::string> type = Type(f, d, field);
  if (!type.ok()) return type.status();
  if (*type == "ByteLevel") return MakeByteLevelDecoder();
  if (*type == "ByteFallback") return MakeByteFallbackDecoder();
  if (*type == "Fuse") return MakeFuseDecoder();
  if (*type == "Metaspace") {
    auto replacement = f.String(d, field, "replacement", "\u2581");
    if (!replacement.ok()) return replacement.status();
    return MakeMetaspaceDecoder(*replacement);
  }
  if (*type == "Replace") {
    auto re = f.Pattern(d, field);
    if (!re.ok()) return re.status();
    auto content = f.String(d, field, "content", "");
    if (!content.ok()) return content.status();
    return MakeReplaceDecoder(*std::move(re), *content);
  }
  if (*type == "Strip") {
    auto content = f.String(d, field, "content", "");
    if (!content.ok()) return content.status();
    const int start = d.value("start", 0);
    const int stop = d.value("stop", 0);
    return MakeStripDecoder(*content, start, stop);
  }
  if (*type == "Sequence") {
    if (!d.contains("decoders") || !d["decoders"].is_array())
      return f.Error(field + ".decoders", "must be an array");
    std::vector<std::unique_ptr<HfDecoder>> parts;
    for (size_t i = 0; i < d["decoders"].size(); ++i) {
      auto part = BuildDecoder(f, d["decoders"][i], absl::StrCat(field, ".decoders[", i, "]"));
      if (!part.ok()) return part.status();
      if (*part) parts.push_back(*std::move(part));
    }
    return MakeSequenceDecoder(std::move(parts));
  }
  return f.Error(field + ".type",
                 absl::StrCat("\"", *type, "\" is not supported (supported: ByteLevel, "
                              "Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)"));
}

}  // namespace ablate::engine
