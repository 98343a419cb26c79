// Copyright: the ablate authors.
//
// ArtifactStore: verified publication, idempotence, resumable partial uploads (also across a
// restart), takeover, digest mismatch, size limits.
#include "storage/artifact_store.h"

#include <string>

#include "proto/artifact/digest.h"
#include "gtest/gtest.h"
#include "tests/artifacts/test_util.h"

namespace ablate::storage {
namespace {

using ::ablate::testing::RandomBytes;
using ::ablate::testing::TempDir;

ablate::v1::UploadHeader TextHeader(const std::string& bytes) {
  ablate::v1::UploadHeader header;
  header.set_kind(ablate::v1::ARTIFACT_KIND_TEXT);
  header.set_digest(artifact::Sha256Hex(bytes));
  header.set_total_size(static_cast<int64_t>(bytes.size()));
  return header;
}

std::unique_ptr<ArtifactStore> OpenStore(const std::string& root, int64_t max_artifact = 1 << 20,
                                         int64_t max_total = 0) {
  ArtifactStoreOptions options;
  options.root = root;
  options.max_artifact_bytes = max_artifact;
  options.max_total_bytes = max_total;
  auto store = ArtifactStore::Open(options);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? *std::move(store) : nullptr;
}

std::string ReadBlob(ArtifactStore& store, const std::string& digest) {
  auto blob = store.OpenBlob(digest);
  EXPECT_TRUE(blob.ok()) << blob.status();
  std::string all, part;
  for (int64_t pos = 0; blob.ok() && pos < (*blob)->size(); pos += part.size()) {
    EXPECT_TRUE((*blob)->Read(pos, 1000, &part).ok());
    all += part;
  }
  return all;
}

TEST(ArtifactStoreTest, UploadPublishesVerifiedBlobOnce) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const std::string bytes = RandomBytes(5000, 1);
  const auto header = TextHeader(bytes);
  EXPECT_EQ(store->Stat(header.digest()).status().code(), absl::StatusCode::kNotFound);
  auto upload = store->BeginUpload(header);
  ASSERT_TRUE(upload.ok()) << upload.status();
  ASSERT_TRUE((*upload)->Write(0, bytes.substr(0, 3000)).ok());
  EXPECT_EQ((*upload)->Finish().status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Stat(header.digest()).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE((*upload)->Write(3000, bytes.substr(3000)).ok());
  auto info = (*upload)->Finish();
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->size(), 5000);
  EXPECT_EQ(ReadBlob(*store, header.digest()), bytes);
  EXPECT_EQ(store->stored_bytes(), 5000);
  auto status = store->GetUploadStatus(header.digest());
  EXPECT_TRUE(status->complete());
  // The same bytes again: nothing to do.
  EXPECT_EQ(store->BeginUpload(header).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store->stored_bytes(), 5000);
}

TEST(ArtifactStoreTest, PartialUploadSurvivesRestartAndResumes) {
  TempDir tmp;
  const std::string bytes = RandomBytes(10000, 2);
  const auto header = TextHeader(bytes);
  {
    auto store = OpenStore(tmp.path());
    auto upload = store->BeginUpload(header);
    ASSERT_TRUE((*upload)->Write(0, bytes.substr(0, 4096)).ok());
  }  // The stream broke and the server restarted.
  auto store = OpenStore(tmp.path());
  auto status = store->GetUploadStatus(header.digest());
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->complete());
  EXPECT_EQ(status->received_bytes(), 4096);
  EXPECT_EQ(status->total_size(), 10000);
  auto upload = store->BeginUpload(header);
  ASSERT_TRUE(upload.ok());
  EXPECT_EQ((*upload)->received(), 4096);
  // A gap is refused with the expected offset; an overlap is skipped.
  auto gap = (*upload)->Write(5000, bytes.substr(5000, 10));
  EXPECT_EQ(gap.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(gap.message().find("expected offset 4096"), std::string::npos);
  ASSERT_TRUE((*upload)->Write(4000, bytes.substr(4000)).ok());
  ASSERT_TRUE((*upload)->Finish().ok());
  EXPECT_EQ(ReadBlob(*store, header.digest()), bytes);
}

TEST(ArtifactStoreTest, SecondWriterTakesOver) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const std::string bytes = RandomBytes(3000, 3);
  auto first = store->BeginUpload(TextHeader(bytes));
  ASSERT_TRUE((*first)->Write(0, bytes.substr(0, 1000)).ok());
  auto second = store->BeginUpload(TextHeader(bytes));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second)->received(), 1000);
  EXPECT_EQ((*first)->Write(1000, bytes.substr(1000, 10)).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE((*second)->Write(1000, bytes.substr(1000)).ok());
  ASSERT_TRUE((*second)->Finish().ok());
  EXPECT_EQ((*first)->Finish().status().code(), absl::StatusCode::kAborted);
  first->reset();
  EXPECT_EQ(ReadBlob(*store, artifact::Sha256Hex(bytes)), bytes);
}

TEST(ArtifactStoreTest, WrongBytesAreDataLossAndDiscarded) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  const std::string bytes = RandomBytes(2000, 4);
  std::string wrong = bytes;
  wrong[1234] ^= 0x20;
  auto upload = store->BeginUpload(TextHeader(bytes));
  ASSERT_TRUE((*upload)->Write(0, wrong).ok());
  EXPECT_EQ((*upload)->Finish().status().code(), absl::StatusCode::kDataLoss);
  upload->reset();
  EXPECT_EQ(store->Stat(artifact::Sha256Hex(bytes)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store->GetUploadStatus(artifact::Sha256Hex(bytes))->received_bytes(), 0);
  EXPECT_EQ(store->OpenBlob(artifact::Sha256Hex(wrong)).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ArtifactStoreTest, LimitsAndBadHeaders) {
  TempDir tmp;
  auto store = OpenStore(tmp.path(), /*max_artifact=*/4000, /*max_total=*/6000);
  auto too_big = store->BeginUpload(TextHeader(RandomBytes(4001, 5)));
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string a = RandomBytes(3500, 6);
  auto upload = store->BeginUpload(TextHeader(a));
  ASSERT_TRUE(upload.ok());
  // 3500 reserved by the unfinished upload + 3000 > 6000.
  EXPECT_EQ(store->BeginUpload(TextHeader(RandomBytes(3000, 7))).status().code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE((*upload)->Write(0, a).ok());
  ASSERT_TRUE((*upload)->Finish().ok());
  EXPECT_EQ(store->BeginUpload(TextHeader(RandomBytes(3000, 7))).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(store->BeginUpload(TextHeader(RandomBytes(2000, 8))).ok());

  auto header = TextHeader("xyz");
  header.set_digest("ABC");
  EXPECT_EQ(store->BeginUpload(header).status().code(), absl::StatusCode::kInvalidArgument);
  header = TextHeader("xyz");
  header.set_kind(ablate::v1::ARTIFACT_KIND_UNSPECIFIED);
  EXPECT_EQ(store->BeginUpload(header).status().code(), absl::StatusCode::kInvalidArgument);
  header = TextHeader("xyz");
  header.set_kind(ablate::v1::ARTIFACT_KIND_MODEL);  // No files listed.
  EXPECT_EQ(store->BeginUpload(header).status().code(), absl::StatusCode::kInvalidArgument);
  auto small = store->BeginUpload(TextHeader("xyz"));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ((*small)->Write(0, "xyzw").code(), absl::StatusCode::kInvalidArgument);
}

TEST(ArtifactStoreTest, OneProcessPerStore) {
  TempDir tmp;
  auto store = OpenStore(tmp.path());
  ArtifactStoreOptions options;
  options.root = tmp.path();
  EXPECT_EQ(ArtifactStore::Open(options).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ablate::storage
