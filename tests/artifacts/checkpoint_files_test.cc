// Copyright: the ablate authors.
//
// Checkpoint files: which names are model files, which hold the weights, the weights digest
// (checked against `sha256sum` where the system has it, and against a listing built here),
// and sharded folders through the archive (members, round trip).
#include "proto/artifact/checkpoint_files.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/artifact/digest.h"
#include "proto/artifact/model_archive.h"
#include "tests/artifacts/test_util.h"

namespace ablate::artifact {
namespace {

using ::ablate::testing::MakeModelFolder;
using ::ablate::testing::RandomBytes;
using ::ablate::testing::ReadFile;
using ::ablate::testing::TempDir;
using ::ablate::testing::WriteFile;

// config.json, three weight shards and their index, tokenizer.json and tokenizer_config.json.
void MakeShardedFolder(const std::string& dir) {
  std::filesystem::create_directories(dir);
  WriteFile(dir + "/config.json", "{\"model_type\": \"llama\"}\n");
  for (int k = 1; k <= 3; ++k) {
    WriteFile(dir + "/model-0000" + std::to_string(k) + "-of-00003.safetensors",
              RandomBytes(700 * k, k));
  }
  WriteFile(dir + "/model.safetensors.index.json", "{\"weight_map\": {}}\n");
  WriteFile(dir + "/tokenizer.json", "{\"model\": {}}\n");
  WriteFile(dir + "/tokenizer_config.json", "{}\n");
  WriteFile(dir + "/README.md", "not a model file\n");
}

TEST(CheckpointFilesTest, Names) {
  for (const char* ok : {"config.json", "model.safetensors", "model.safetensors.index.json",
                         "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                         "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"}) {
    EXPECT_TRUE(IsModelFileName(ok)) << ok;
  }
  for (const char* bad : {"model-00003-of-00002.safetensors", "model-00000-of-00002.safetensors",
                          "model-1-of-2.safetensors", "model-0000a-of-00002.safetensors",
                          "pytorch_model.bin", "../config.json", "config.json/", ""}) {
    EXPECT_FALSE(IsModelFileName(bad)) << bad;
  }
  EXPECT_EQ(ParseShardName("model-00002-of-00010.safetensors"), std::make_pair(2, 10));
}

TEST(CheckpointFilesTest, WeightFilesInDigestOrder) {
  EXPECT_EQ(*WeightFiles({"config.json", "model.safetensors", "vocab.json"}),
            std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(*WeightFiles({"model.safetensors.index.json", "model-00002-of-00002.safetensors",
                          "model-00001-of-00002.safetensors"}),
            (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                      "model-00002-of-00002.safetensors",
                                      "model.safetensors.index.json"}));
  struct Case {
    std::vector<std::string> names;
    const char* says;
  };
  for (const Case& c : std::vector<Case>{
           {{"config.json"}, "no weights"},
           {{"model.safetensors", "model.safetensors.index.json"}, "both"},
           {{"model-00001-of-00001.safetensors"}, "no model.safetensors.index.json"},
           {{"model.safetensors.index.json"}, "no shards"},
           {{"model.safetensors.index.json", "model-00001-of-00002.safetensors",
             "model-00002-of-00003.safetensors"},
            "different totals"},
           {{"model.safetensors.index.json", "model-00001-of-00003.safetensors",
             "model-00003-of-00003.safetensors"},
            "missing shard 2 of 3 (model-00002-of-00003.safetensors)"}}) {
    absl::StatusOr<std::vector<std::string>> w = WeightFiles(c.names);
    ASSERT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << c.says;
    EXPECT_NE(w.status().message().find(c.says), std::string::npos) << w.status();
  }
}

TEST(CheckpointFilesTest, SingleFileDigestIsTheFilesSha256) {
  TempDir tmp;
  MakeModelFolder(tmp / "m", 5000, 3);
  EXPECT_EQ(*WeightsDigest(tmp / "m"), Sha256Hex(ReadFile(tmp / "m/model.safetensors")));
}

TEST(CheckpointFilesTest, ShardedDigestIsTheSha256sumListing) {
  TempDir tmp;
  MakeShardedFolder(tmp / "m");
  std::string listing;
  for (const char* name : {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                           "model-00003-of-00003.safetensors", "model.safetensors.index.json"}) {
    listing += Sha256Hex(ReadFile(tmp / ("m/" + std::string(name)))) + "  " + name + "\n";
  }
  absl::StatusOr<std::string> digest = WeightsDigest(tmp / "m");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(*digest, Sha256Hex(listing));
  // The documented shell spelling gives the same digest.
  if (std::system("command -v sha256sum > /dev/null 2>&1") == 0) {
    const std::string cmd = "cd " + (tmp / "m") +
                            " && LC_ALL=C sha256sum model-*-of-*.safetensors "
                            "model.safetensors.index.json | sha256sum > ../sum.txt";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    EXPECT_EQ(ReadFile(tmp / "sum.txt").substr(0, 64), *digest);
  }
  // Any shard's bytes change the digest.
  WriteFile(tmp / "m/model-00002-of-00003.safetensors", RandomBytes(1400, 99));
  EXPECT_NE(*WeightsDigest(tmp / "m"), *digest);
  std::filesystem::remove(tmp / "m/model-00003-of-00003.safetensors");
  absl::StatusOr<std::string> missing = WeightsDigest(tmp / "m");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("missing shard 3 of 3"), std::string::npos);
}

TEST(CheckpointFilesTest, ShardedFolderArchiveRoundTrip) {
  TempDir tmp;
  MakeShardedFolder(tmp / "m");
  absl::StatusOr<std::unique_ptr<FolderArchive>> archive = FolderArchive::Open(tmp / "m");
  ASSERT_TRUE(archive.ok()) << archive.status();
  std::vector<std::string> names;
  for (const ArchiveMember& m : (*archive)->members()) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{
                       "config.json", "model-00001-of-00003.safetensors",
                       "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors",
                       "model.safetensors.index.json", "tokenizer.json",
                       "tokenizer_config.json"}));
  std::string bytes(static_cast<size_t>((*archive)->size()), '\0');
  ASSERT_TRUE((*archive)->Read(0, bytes.size(), &bytes[0]).ok());
  WriteFile(tmp / "m.tar", bytes);
  absl::StatusOr<std::vector<ArchiveMember>> members = UnpackArchive(tmp / "m.tar", tmp / "out");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(*WeightsDigest(tmp / "out"), *WeightsDigest(tmp / "m"));
  EXPECT_FALSE(std::filesystem::exists(tmp / "out/README.md"));
  // A member list without a complete set of shards is not a model artifact.
  std::vector<ArchiveMember> partial = *members;
  partial.erase(partial.begin() + 2);
  absl::StatusOr<std::vector<ArchiveMember>> bad = CanonicalMembers(partial);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("missing shard 2 of 3"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace ablate::artifact
