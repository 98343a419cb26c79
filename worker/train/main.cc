// Copyright: the ablate authors.
//
// ablate-train: trains a small GPT-2 on a text file and writes a Hugging Face
// checkpoint folder. Flags into TrainOptions, then Train (trainer.h). Progress
// on stderr; the report as one JSON object on stdout.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "worker/train/trainer.h"

int main(int argc, char** argv) {
  ablate::train::TrainOptions o;
  std::string dtype = "fp16";
  CLI::App app{
      "Train a small GPT-2 (deterministic, CPU) and save it as a "
      "Hugging Face checkpoint folder"};
  app.add_option("--train-text", o.train_text, "Training text (UTF-8)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--heldout-text", o.heldout_text, "Held-out text for PPL")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--tokenizer", o.tokenizer_dir,
                 "Folder with vocab.json and merges.txt")
      ->required()
      ->check(CLI::ExistingDirectory);
  app.add_option("--out", o.out_dir, "Checkpoint folder to write")->required();
  app.add_option("--n-layer", o.model.n_layer)->capture_default_str();
  app.add_option("--n-head", o.model.n_head)->capture_default_str();
  app.add_option("--n-embd", o.model.n_embd)->capture_default_str();
  app.add_option("--n-positions", o.model.n_positions)->capture_default_str();
  app.add_option("--seq-len", o.seq_len)->capture_default_str();
  app.add_option("--batch-size", o.batch_size)->capture_default_str();
  app.add_option("--steps", o.steps)->capture_default_str();
  app.add_option("--warmup-steps", o.warmup_steps)->capture_default_str();
  app.add_option("--lr", o.lr, "Peak learning rate")->capture_default_str();
  app.add_option("--min-lr", o.min_lr)->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay)->capture_default_str();
  app.add_option("--grad-clip", o.grad_clip)->capture_default_str();
  app.add_option("--seed", o.seed)->capture_default_str();
  app.add_option("--threads", o.threads)->capture_default_str();
  app.add_option("--dtype", dtype, "Storage dtype of model.safetensors")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}))
      ->capture_default_str();
  app.add_option("--log-every", o.log_every)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  o.save_dtype = dtype == "fp32"   ? ablate::engine::DType::kFloat32
                 : dtype == "bf16" ? ablate::engine::DType::kBFloat16
                                   : ablate::engine::DType::kFloat16;
  o.log = [](const std::string& line) { std::cerr << line << std::endl; };
  absl::StatusOr<ablate::train::TrainReport> r = ablate::train::Train(o);
  if (!r.ok()) {
    std::cerr << "ablate-train: " << r.status().message() << std::endl;
    return 1;
  }
  nlohmann::ordered_json j = {
      {"out", o.out_dir},
      {"n_params", r->n_params},
      {"train_tokens", r->train_tokens},
      {"heldout_chunks", r->heldout_chunks},
      {"heldout_tokens_scored", r->heldout_tokens_scored},
      {"steps", r->steps},
      {"train_seconds", r->train_seconds},
      {"final_train_loss", r->final_train_loss},
      {"heldout_ppl_fp32", r->heldout_ppl_fp32},
      {"heldout_ppl_saved", r->heldout_ppl_saved},
      {"heldout_ppl_engine", r->heldout_ppl_engine},
      {"model_safetensors_sha256", r->safetensors_sha256}};
  std::cout << j.dump(2) << std::endl;
  return 0;
}
