#include "client/spec.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/model_shape.h"
#include "client/rpc.h"
#include "client/spec_yaml.h"
#include "client/views.h"
#include "nlohmann/json.hpp"
#include "proto/artifact/checkpoint_files.h"

namespace ablate::client {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string Unquote(absl::string_view v) {
  v = absl::StripAsciiWhitespace(v);
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return std::string(v.substr(1, v.size() - 2));
  }
  return std::string(v);
}

// What a value is, for errors: "'abc'", "a list", "a mapping".
std::string Describe(const json& v) {
  if (v.is_array()) return "a list";
  if (v.is_object()) return "a mapping";
  if (v.is_null()) return "nothing";
  return absl::StrCat("'", v.is_string() ? v.get<std::string>() : v.dump(), "'");
}

absl::StatusOr<int> GetInt(const json& v, const std::string& key) {
  int out = 0;
  if (v.is_number_integer()) return v.get<int>();
  if (v.is_string() && absl::SimpleAtoi(v.get<std::string>(), &out)) return out;
  return absl::InvalidArgumentError(
      absl::StrCat("spec: ", key, " must be an integer, got ", Describe(v)));
}

absl::StatusOr<bool> GetBool(const json& v, const std::string& key) {
  bool out = false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_string() && absl::SimpleAtob(v.get<std::string>(), &out)) return out;
  return absl::InvalidArgumentError(
      absl::StrCat("spec: ", key, " must be true or false, got ", Describe(v)));
}

absl::StatusOr<std::string> GetString(const json& v, const std::string& key) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return absl::InvalidArgumentError(
      absl::StrCat("spec: ", key, " must be a single value, got ", Describe(v)));
}

absl::StatusOr<std::vector<std::pair<int, int>>> GetOrder(const json& v) {
  if (v.is_string()) return ParseHeadList(v.get<std::string>());
  std::vector<std::pair<int, int>> out;
  if (!v.is_array()) return absl::InvalidArgumentError("spec: cumulative_order must be a list");
  for (const json& e : v) {
    if (e.is_array() && e.size() == 2) {  // [L, H]; YAML gives the numbers as strings.
      absl::StatusOr<int> layer = GetInt(e[0], "cumulative_order layer");
      if (!layer.ok()) return layer.status();
      absl::StatusOr<int> head = GetInt(e[1], "cumulative_order head");
      if (!head.ok()) return head.status();
      out.emplace_back(*layer, *head);
    } else if (e.is_string()) {
      absl::StatusOr<std::vector<std::pair<int, int>>> one = ParseHeadList(e.get<std::string>());
      if (!one.ok()) return one.status();
      out.insert(out.end(), one->begin(), one->end());
    } else {
      return absl::InvalidArgumentError("spec: cumulative_order entries are \"L.H\" or [L, H]");
    }
  }
  return out;
}

// Assigns one spec key; `dir` resolves relative paths.
absl::Status Assign(const std::string& raw_key, const json& v, const fs::path& dir,
                    SubmitOptions* o) {
  std::string key = raw_key;
  std::replace(key.begin(), key.end(), '-', '_');
  auto str = [&](std::optional<std::string>* f) -> absl::Status {
    absl::StatusOr<std::string> s = GetString(v, key);
    if (!s.ok()) return s.status();
    *f = *s;
    return absl::OkStatus();
  };
  auto path = [&](std::optional<std::string>* f) -> absl::Status {
    absl::StatusOr<std::string> s = GetString(v, key);
    if (!s.ok()) return s.status();
    *f = fs::path(*s).is_absolute() ? *s : (dir / *s).lexically_normal().string();
    return absl::OkStatus();
  };
  auto num = [&](std::optional<int>* f) -> absl::Status {
    absl::StatusOr<int> i = GetInt(v, key);
    if (!i.ok()) return i.status();
    *f = *i;
    return absl::OkStatus();
  };
  if (key == "model") return path(&o->model);
  if (key == "text") return path(&o->text);
  if (key == "n_chunks") return num(&o->n_chunks);
  if (key == "seq_len") return num(&o->seq_len);
  if (key == "priority") return num(&o->priority);
  if (key == "masks_per_task") return num(&o->masks_per_task);
  if (key == "max_attempts") return num(&o->max_attempts);
  if (key == "verify_top_k") return num(&o->verify_top_k);
  if (key == "method") return str(&o->method);
  if (key == "sweep") return str(&o->sweep);
  if (key == "dtype") return str(&o->dtype);
  if (key == "device_kind") return str(&o->device_kind);
  if (key == "request_id") return str(&o->request_id);
  if (key == "name") return str(&o->name);
  if (key == "dataset_name") return str(&o->dataset_name);
  if (key == "bos_per_chunk" || key == "bos" || key == "upload") {
    absl::StatusOr<bool> b = GetBool(v, key);
    if (!b.ok()) return b.status();
    (key == "upload" ? o->upload : o->bos_per_chunk) = *b;
    return absl::OkStatus();
  }
  if (key == "cumulative_order") {
    absl::StatusOr<std::vector<std::pair<int, int>>> order = GetOrder(v);
    if (!order.ok()) return order.status();
    o->cumulative_order = *order;
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("spec: unknown key '", raw_key, "'"));
}

}  // namespace

void SubmitOptions::FillFrom(const SubmitOptions& o) {
  auto fill = [](auto* mine, const auto& theirs) {
    if (!mine->has_value()) *mine = theirs;
  };
  fill(&model, o.model);
  fill(&text, o.text);
  fill(&n_chunks, o.n_chunks);
  fill(&seq_len, o.seq_len);
  fill(&method, o.method);
  fill(&sweep, o.sweep);
  fill(&dtype, o.dtype);
  fill(&device_kind, o.device_kind);
  fill(&priority, o.priority);
  fill(&masks_per_task, o.masks_per_task);
  fill(&max_attempts, o.max_attempts);
  fill(&verify_top_k, o.verify_top_k);
  fill(&bos_per_chunk, o.bos_per_chunk);
  fill(&upload, o.upload);
  fill(&request_id, o.request_id);
  fill(&name, o.name);
  fill(&dataset_name, o.dataset_name);
  if (cumulative_order.empty()) cumulative_order = o.cumulative_order;
}

absl::StatusOr<SubmitOptions> LoadSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path, "spec file");
  if (!text.ok()) return text.status();
  json doc;
  const absl::string_view trimmed = absl::StripLeadingAsciiWhitespace(*text);
  if (absl::EndsWith(path, ".json") || (!trimmed.empty() && trimmed.front() == '{')) {
    doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat("spec file ", path, " is not a JSON object"));
    }
  } else {
    absl::StatusOr<json> yaml = ParseYamlSpec(*text, path);
    if (!yaml.ok()) return yaml.status();
    doc = *std::move(yaml);
  }
  SubmitOptions out;
  const fs::path dir = fs::path(path).parent_path();
  for (const auto& [key, value] : doc.items()) {
    if (absl::Status s = Assign(key, value, dir, &out); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": ", s.message()));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<int, int>>> ParseHeadList(const std::string& text) {
  absl::string_view s = absl::StripAsciiWhitespace(text);
  absl::ConsumePrefix(&s, "[");
  absl::ConsumeSuffix(&s, "]");
  std::vector<std::pair<int, int>> out;
  for (absl::string_view item : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    // Unquote strips whitespace; its result owns the text (a view of it would dangle).
    const std::string unquoted = Unquote(item);
    std::pair<std::string, std::string> lh = absl::StrSplit(unquoted, '.');
    int l = 0, h = 0;
    if (!absl::SimpleAtoi(lh.first, &l) || !absl::SimpleAtoi(lh.second, &h) || l < 0 || h < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("head '", unquoted, "' is not LAYER.HEAD (e.g. 3.7)"));
    }
    out.emplace_back(l, h);
  }
  return out;
}

absl::StatusOr<std::string> Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 init failed");
  }
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    if (in.gcount() > 0) EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("error reading ", path));
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(md[i], absl::kZeroPad2));
  return hex;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) absl::StrAppend(&hex, absl::Hex(md[i], absl::kZeroPad2));
  return hex;
}

std::string RandomRequestId() {
  std::random_device rd;
  std::string out;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&out, absl::Hex(rd(), absl::kZeroPad8));
  return out;
}

absl::StatusOr<v1::SubmitJobRequest> BuildSubmitRequest(const SubmitOptions& o) {
  if (!o.model.has_value() || o.model->empty()) {
    return absl::InvalidArgumentError("submit: --model DIR is required (or 'model' in --spec)");
  }
  if (!o.text.has_value() || o.text->empty()) {
    return absl::InvalidArgumentError("submit: --text FILE is required (or 'text' in --spec)");
  }
  v1::SubmitJobRequest req;
  req.set_request_id(o.request_id.value_or(RandomRequestId()));
  v1::JobSpec* spec = req.mutable_spec();
  v1::ModelRef* model = spec->mutable_model();
  absl::StatusOr<v1::ModelShape> shape = ReadModelShape(*o.model);
  if (!shape.ok()) return shape.status();
  *model->mutable_shape() = *shape;
  absl::StatusOr<std::string> sha = artifact::WeightsDigest(*o.model);
  if (!sha.ok()) return sha.status();
  model->set_sha256(*sha);
  model->set_tokenizer(artifact::TokenizerKind(*o.model));
  model->set_path(fs::absolute(*o.model).lexically_normal().string());
  absl::StatusOr<std::string> text = ReadFile(*o.text, "text file");
  if (!text.ok()) return text.status();
  v1::Dataset* ds = spec->mutable_dataset();
  ds->set_sha256(Sha256Hex(*text));
  ds->set_text(*std::move(text));
  ds->set_name(o.dataset_name.value_or(fs::path(*o.text).filename().string()));
  spec->set_n_chunks(o.n_chunks.value_or(2));
  spec->set_seq_len(o.seq_len.value_or(std::min(1024, shape->n_positions())));
  if (spec->n_chunks() <= 0 || spec->seq_len() <= 1) {
    return absl::InvalidArgumentError("submit: --n-chunks must be >= 1 and --seq-len >= 2");
  }
  absl::StatusOr<v1::Method> method = ParseMethod(o.method.value_or("zero"));
  absl::StatusOr<v1::Sweep> sweep = ParseSweep(o.sweep.value_or("full"));
  absl::StatusOr<v1::DType> dtype = ParseDType(o.dtype.value_or("fp32"));
  absl::StatusOr<v1::DeviceKind> device = ParseDeviceKind(o.device_kind.value_or("any"));
  for (const absl::Status& s : {method.status(), sweep.status(), dtype.status(), device.status()}) {
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("submit: ", s.message()));
  }
  spec->set_method(*method);
  spec->set_sweep(*sweep);
  spec->set_verify_top_k(o.verify_top_k.value_or(0));
  spec->set_dtype(*dtype);
  spec->set_device_kind(*device);
  spec->set_priority(o.priority.value_or(0));
  spec->set_masks_per_task(o.masks_per_task.value_or(0));
  spec->set_max_attempts(o.max_attempts.value_or(0));
  spec->set_bos_per_chunk(o.bos_per_chunk.value_or(DefaultBos(*shape)));
  if (spec->bos_per_chunk() && shape->bos_token_id() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "submit: --bos: ", *o.model, "/config.json names no bos_token_id (use --no-bos)"));
  }
  spec->set_name(o.name.value_or(""));
  for (const auto& [layer, head] : o.cumulative_order) {
    v1::HeadRef* h = spec->add_cumulative_order();
    h->set_layer(layer);
    h->set_head(head);
  }
  return req;
}

}  // namespace ablate::client
