// Copyright: the ablate authors.
//
// ArtifactService end to end on loopback: client upload (idempotent, resumable, limits),
// worker fetch into the ArtifactCache (hit, corruption detected and refetched, LRU eviction,
// pinning, resumed downloads).
#include "server/artifact_service.h"

#include <grpcpp/grpcpp.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "proto/artifact/digest.h"
#include "proto/artifact/model_archive.h"
#include "client/upload.h"
#include "gtest/gtest.h"
#include "storage/artifact_store.h"
#include "tests/artifacts/test_util.h"
#include "worker/artifact_cache.h"

namespace ablate {
namespace {

using ::ablate::testing::MakeModelFolder;
using ::ablate::testing::ReadFile;
using ::ablate::testing::TempDir;
using ::ablate::testing::WriteFile;
constexpr int64_t kMiB = 1 << 20;

class ArtifactServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(); }
  void TearDown() override { StopServer(); }

  void StartServer(int64_t max_artifact_bytes = 64 * kMiB) {
    storage::ArtifactStoreOptions options;
    options.root = tmp_ / "store";
    options.max_artifact_bytes = max_artifact_bytes;
    auto store = storage::ArtifactStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    service_ = std::make_unique<server::ArtifactServiceImpl>(store_.get(), auth_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ArtifactService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials()));
  }

  void StopServer() {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.reset();
    service_.reset();
    store_.reset();
  }

  std::unique_ptr<worker::ArtifactCache> OpenCache(int64_t max_bytes = 64 * kMiB,
                                                   std::unique_ptr<worker::ArtifactSource> src =
                                                       nullptr) {
    worker::ArtifactCacheOptions options;
    options.root = tmp_ / "cache";
    options.max_bytes = max_bytes;
    options.retry_backoff = absl::Milliseconds(10);
    if (!src) src = std::make_unique<worker::GrpcArtifactSource>(stub_, nullptr);
    auto cache = worker::ArtifactCache::Open(options, std::move(src));
    EXPECT_TRUE(cache.ok()) << cache.status();
    return cache.ok() ? *std::move(cache) : nullptr;
  }

  // Uploads a fresh model folder named `name` with `weights` bytes of weights.
  std::string UploadModel(const std::string& name, int64_t weights, uint32_t seed) {
    MakeModelFolder(tmp_ / name, weights, seed);
    auto result = client::UploadModelFolder(stub_.get(), tmp_ / name);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->artifact.digest() : "";
  }

  // Sends the header and the first `bytes` of the folder's archive, waits until the server
  // holds them, then breaks the stream.
  void BreakUploadAfter(const std::string& dir, int64_t bytes) {
    auto archive = artifact::FolderArchive::Open(dir);
    ASSERT_TRUE(archive.ok());
    const std::string digest = *(*archive)->Digest();
    grpc::ClientContext context;
    v1::UploadResponse response;
    auto writer = stub_->Upload(&context, &response);
    v1::UploadRequest request;
    auto* header = request.mutable_header();
    header->set_kind(v1::ARTIFACT_KIND_MODEL);
    header->set_digest(digest);
    header->set_total_size((*archive)->size());
    for (const auto& m : (*archive)->members()) {
      auto* f = header->add_files();
      f->set_name(m.name);
      f->set_size(m.size);
    }
    ASSERT_TRUE(writer->Write(request));
    for (int64_t pos = 0; pos < bytes; pos += kMiB) {
      request.mutable_chunk()->set_offset(pos);
      std::string* data = request.mutable_chunk()->mutable_data();
      data->resize(static_cast<size_t>(std::min(kMiB, bytes - pos)));
      ASSERT_TRUE((*archive)->Read(pos, data->size(), &(*data)[0]).ok());
      ASSERT_TRUE(writer->Write(request));
    }
    v1::ArtifactRef ref;
    ref.set_digest(digest);
    for (int i = 0; i < 500; ++i) {
      grpc::ClientContext c;
      v1::UploadStatus status;
      ASSERT_TRUE(stub_->GetUploadStatus(&c, ref, &status).ok());
      if (status.received_bytes() == bytes) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    context.TryCancel();
    writer->Finish();
  }

  TempDir tmp_;
  std::unique_ptr<server::Authenticator> auth_;
  std::unique_ptr<storage::ArtifactStore> store_;
  std::unique_ptr<server::ArtifactServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<v1::ArtifactService::Stub> stub_;
};

TEST_F(ArtifactServiceTest, UploadOnceThenNoOp) {
  MakeModelFolder(tmp_ / "m", 3 * kMiB + 17, 1);
  auto first = client::UploadModelFolder(stub_.get(), tmp_ / "m");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->artifact.digest(), *client::ModelFolderDigest(tmp_ / "m"));
  EXPECT_FALSE(first->already_present);
  EXPECT_EQ(first->attempts, 1);
  EXPECT_EQ(first->bytes_sent, first->artifact.size());
  ASSERT_EQ(first->artifact.files_size(), 4);
  EXPECT_EQ(first->artifact.files(2).name(), "model.safetensors");
  EXPECT_EQ(first->artifact.files(2).size(), 3 * kMiB + 17);
  auto second = client::UploadModelFolder(stub_.get(), tmp_ / "m");
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->already_present);
  EXPECT_EQ(second->bytes_sent, 0);
  EXPECT_EQ(second->attempts, 0);
  EXPECT_EQ(store_->stored_bytes(), first->artifact.size());
}

TEST_F(ArtifactServiceTest, BrokenUploadResumesFromServerOffset) {
  MakeModelFolder(tmp_ / "m", 3 * kMiB, 2);
  BreakUploadAfter(tmp_ / "m", 2 * kMiB);
  auto result = client::UploadModelFolder(stub_.get(), tmp_ / "m");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->resumed_from, 2 * kMiB);
  EXPECT_EQ(result->bytes_sent, result->artifact.size() - 2 * kMiB);
  EXPECT_EQ(result->artifact.digest(), *client::ModelFolderDigest(tmp_ / "m"));
}

TEST_F(ArtifactServiceTest, UploadResumesAfterServerRestart) {
  MakeModelFolder(tmp_ / "m", 2 * kMiB, 3);
  BreakUploadAfter(tmp_ / "m", kMiB);
  StopServer();
  StartServer();
  auto result = client::UploadModelFolder(stub_.get(), tmp_ / "m");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->resumed_from, kMiB);
  EXPECT_EQ(result->bytes_sent, result->artifact.size() - kMiB);
}

TEST_F(ArtifactServiceTest, LimitsAndBadUploads) {
  StopServer();
  StartServer(/*max_artifact_bytes=*/kMiB);
  MakeModelFolder(tmp_ / "big", 2 * kMiB, 4);
  auto big = client::UploadModelFolder(stub_.get(), tmp_ / "big");
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted) << big.status();
  // A chunk above 1 MiB.
  grpc::ClientContext context;
  v1::UploadResponse response;
  auto writer = stub_->Upload(&context, &response);
  v1::UploadRequest request;
  request.mutable_header()->set_kind(v1::ARTIFACT_KIND_TEXT);
  request.mutable_header()->set_digest(artifact::Sha256Hex(std::string(kMiB, 'x')));
  request.mutable_header()->set_total_size(kMiB);
  writer->Write(request);
  request.mutable_chunk()->mutable_data()->assign(kMiB + 1, 'x');
  writer->Write(request);
  writer->WritesDone();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Bytes that do not match the digest.
  WriteFile(tmp_ / "t.txt", "hello");
  grpc::ClientContext c2;
  auto w2 = stub_->Upload(&c2, &response);
  request.mutable_header()->set_kind(v1::ARTIFACT_KIND_TEXT);
  request.mutable_header()->set_digest(artifact::Sha256Hex("HELLO"));
  request.mutable_header()->set_total_size(5);
  w2->Write(request);
  request.mutable_chunk()->set_data("hello");
  w2->Write(request);
  w2->WritesDone();
  EXPECT_EQ(w2->Finish().error_code(), grpc::StatusCode::DATA_LOSS);
}

TEST_F(ArtifactServiceTest, FetchThenCacheHit) {
  const std::string digest = UploadModel("m", 2 * kMiB + 3, 5);
  auto cache = OpenCache();
  auto handle = cache->Acquire(digest);
  ASSERT_TRUE(handle.ok()) << handle.status();
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
    EXPECT_EQ(ReadFile((*handle)->path() + "/" + f), ReadFile(tmp_ / "m/" + std::string(f)));
  }
  EXPECT_EQ(cache->stats().fetches, 1);
  handle->reset();
  auto again = cache->Acquire(digest);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(cache->stats().fetches, 1);
  EXPECT_EQ(cache->stats().hits, 1);
  EXPECT_EQ(cache->stats().full_verifications, 0);  // Verified by this process at download.
  // Unknown digests are NOT_FOUND and leave nothing behind.
  EXPECT_EQ(cache->Acquire(artifact::Sha256Hex("none")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ArtifactServiceTest, CorruptedEntryIsDetectedAndRefetched) {
  const std::string digest = UploadModel("m", kMiB, 6);
  auto cache = OpenCache();
  const std::string weights = cache->EntryDir(digest) + "/model.safetensors";
  ASSERT_TRUE(cache->Acquire(digest).ok());
  // 1. A modified file (its mtime changes): re-hashed, dropped, fetched again.
  std::string bytes = ReadFile(weights);
  bytes[1000] ^= 1;
  WriteFile(weights, bytes);
  auto handle = cache->Acquire(digest);
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(cache->stats().corrupt, 1);
  EXPECT_EQ(cache->stats().fetches, 2);
  EXPECT_EQ(ReadFile(weights), ReadFile(tmp_ / "m/model.safetensors"));
  handle->reset();
  // 2. Bit rot that keeps size and mtime: a new process re-hashes on first use.
  struct stat before;
  ASSERT_EQ(::stat(weights.c_str(), &before), 0);
  {
    std::fstream f(weights, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(77);
    f.put('\x42' ^ ReadFile(weights)[77]);
  }
  struct timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, weights.c_str(), times, 0), 0);
  cache.reset();
  cache = OpenCache();
  ASSERT_TRUE(cache->Acquire(digest).ok());
  EXPECT_EQ(cache->stats().corrupt, 1);
  EXPECT_EQ(cache->stats().fetches, 1);
  EXPECT_EQ(ReadFile(weights), ReadFile(tmp_ / "m/model.safetensors"));
  // 3. An extra file in the folder is not what was verified either.
  WriteFile(cache->EntryDir(digest) + "/pytorch_model.bin", "x");
  ASSERT_TRUE(cache->Acquire(digest).ok());
  EXPECT_EQ(cache->stats().fetches, 2);
  // 4. A partial install (no meta) left by a crash is never used.
  std::filesystem::remove(cache->EntryDir(digest) + ".meta");
  cache.reset();
  cache = OpenCache();
  ASSERT_TRUE(cache->Acquire(digest).ok());
  EXPECT_EQ(cache->stats().fetches, 1);
}

TEST_F(ArtifactServiceTest, LeastRecentlyUsedIsEvictedAndPinnedIsKept) {
  const std::string a = UploadModel("a", kMiB, 7);
  const std::string b = UploadModel("b", kMiB, 8);
  const std::string c = UploadModel("c", kMiB, 9);
  auto cache = OpenCache(/*max_bytes=*/2 * kMiB + kMiB / 2);  // Two entries fit.
  ASSERT_TRUE(cache->Acquire(a).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache->Acquire(b).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache->Acquire(a).ok());  // a is now more recent than b.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(cache->Acquire(c).ok());
  EXPECT_EQ(cache->stats().evictions, 1);
  EXPECT_TRUE(std::filesystem::exists(cache->EntryDir(a)));
  EXPECT_FALSE(std::filesystem::exists(cache->EntryDir(b)));
  EXPECT_LE(cache->UsedBytes(), 2 * kMiB + kMiB / 2);
  // Both entries in use: the third cannot fit and nothing in use is evicted.
  auto pin_a = cache->Acquire(a);
  auto pin_c = cache->Acquire(c);
  auto no_room = cache->Acquire(b);
  EXPECT_EQ(no_room.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(std::filesystem::exists((*pin_a)->path() + "/model.safetensors"));
  pin_a->reset();
  ASSERT_TRUE(cache->Acquire(b).ok());  // Now a can go.
  EXPECT_FALSE(std::filesystem::exists(cache->EntryDir(a)));
}

// Fails the first Fetch with UNAVAILABLE after `fail_after` bytes.
class FlakySource : public worker::ArtifactSource {
 public:
  FlakySource(std::unique_ptr<worker::ArtifactSource> inner, int64_t fail_after)
      : inner_(std::move(inner)), fail_after_(fail_after) {}
  absl::Status Fetch(const std::string& digest, int64_t offset, const InfoFn& on_info,
                     const DataFn& on_data) override {
    ++calls;
    offsets.push_back(offset);
    if (calls > 1) return inner_->Fetch(digest, offset, on_info, on_data);
    int64_t seen = 0;
    return inner_->Fetch(digest, offset, on_info, [&](int64_t at, absl::string_view data) {
      if (seen + static_cast<int64_t>(data.size()) > fail_after_) {
        return absl::UnavailableError("connection reset");
      }
      seen += static_cast<int64_t>(data.size());
      return on_data(at, data);
    });
  }
  int calls = 0;
  std::vector<int64_t> offsets;

 private:
  std::unique_ptr<worker::ArtifactSource> inner_;
  int64_t fail_after_;
};

TEST_F(ArtifactServiceTest, BrokenDownloadResumesAndTextArtifacts) {
  const std::string digest = UploadModel("m", 3 * kMiB, 10);
  auto flaky = std::make_unique<FlakySource>(
      std::make_unique<worker::GrpcArtifactSource>(stub_, nullptr), 2 * kMiB);
  FlakySource* source = flaky.get();
  auto cache = OpenCache(64 * kMiB, std::move(flaky));
  auto handle = cache->Acquire(digest);
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(source->calls, 2);
  EXPECT_EQ(source->offsets[1], 2 * kMiB);
  EXPECT_EQ(cache->stats().resumed_fetches, 1);
  EXPECT_EQ(cache->stats().fetched_bytes, (*handle)->info().size());
  EXPECT_EQ(ReadFile((*handle)->path() + "/model.safetensors"),
            ReadFile(tmp_ / "m/model.safetensors"));

  WriteFile(tmp_ / "text.txt", "It was the best of times.\n");
  auto text = client::UploadTextFile(stub_.get(), tmp_ / "text.txt");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(text->artifact.digest(), artifact::Sha256Hex("It was the best of times.\n"));
  auto text_handle = cache->Acquire(text->artifact.digest());
  ASSERT_TRUE(text_handle.ok()) << text_handle.status();
  EXPECT_EQ(ReadFile((*text_handle)->path()), "It was the best of times.\n");
  EXPECT_EQ((*text_handle)->info().kind(), v1::ARTIFACT_KIND_TEXT);
}

TEST_F(ArtifactServiceTest, SubmitCheckAndWorkerResolution) {
  const std::string model = UploadModel("m", 5000, 12);
  WriteFile(tmp_ / "t.txt", "text");
  const std::string text = client::UploadTextFile(stub_.get(), tmp_ / "t.txt")->artifact.digest();
  v1::ModelRef ref;
  ref.set_path("/models/local");
  EXPECT_TRUE(server::CheckModelArtifact(*store_, ref).ok());  // No digest: nothing to check.
  ref.set_artifact_digest(model);
  EXPECT_TRUE(server::CheckModelArtifact(*store_, ref).ok());
  ref.set_artifact_digest(text);
  EXPECT_EQ(server::CheckModelArtifact(*store_, ref).code(), absl::StatusCode::kFailedPrecondition);
  ref.set_artifact_digest(artifact::Sha256Hex("never uploaded"));
  absl::Status missing = server::CheckModelArtifact(*store_, ref);
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(missing.message().find("spec.model.artifact_digest"), std::string::npos);

  auto cache = OpenCache();
  ref.clear_artifact_digest();
  EXPECT_EQ(worker::ResolveModel(cache.get(), ref)->dir, "/models/local");
  ref.set_artifact_digest(model);
  EXPECT_EQ(worker::ResolveModel(nullptr, ref).status().code(),
            absl::StatusCode::kFailedPrecondition);
  auto resolved = worker::ResolveModel(cache.get(), ref);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->dir, cache->EntryDir(model));
  EXPECT_EQ(ReadFile(resolved->dir + "/config.json"), ReadFile(tmp_ / "m/config.json"));
  ref.set_artifact_digest(text);
  EXPECT_EQ(worker::ResolveModel(cache.get(), ref).status().code(),
            absl::StatusCode::kInvalidArgument);
  ref.set_artifact_digest(artifact::Sha256Hex("never uploaded"));
  EXPECT_EQ(worker::ResolveModel(cache.get(), ref).status().code(), absl::StatusCode::kNotFound);
}

std::function<void(grpc::ClientContext*)> Bearer(const std::string& token) {
  return [token](grpc::ClientContext* c) { c->AddMetadata("authorization", "Bearer " + token); };
}

TEST_F(ArtifactServiceTest, RolesAreChecked) {
  StopServer();
  auth_ = std::make_unique<server::Authenticator>("client-secret", "worker-secret");
  StartServer();
  MakeModelFolder(tmp_ / "m", 1000, 11);
  client::UploadOptions options;
  options.max_attempts = 1;
  auto anonymous = client::UploadModelFolder(stub_.get(), tmp_ / "m", options);
  EXPECT_EQ(anonymous.status().code(), absl::StatusCode::kUnauthenticated);
  options.prepare = Bearer("worker-secret");
  auto as_worker = client::UploadModelFolder(stub_.get(), tmp_ / "m", options);
  EXPECT_EQ(as_worker.status().code(), absl::StatusCode::kPermissionDenied);
  options.prepare = Bearer("client-secret");
  auto uploaded = client::UploadModelFolder(stub_.get(), tmp_ / "m", options);
  ASSERT_TRUE(uploaded.ok()) << uploaded.status();
  const std::string digest = uploaded->artifact.digest();

  auto fetch_as = [&](const std::string& token) {
    auto src = std::make_unique<worker::GrpcArtifactSource>(stub_, Bearer(token));
    std::filesystem::remove_all(tmp_ / "cache");
    auto cache = OpenCache(64 * kMiB, std::move(src));
    return cache->Acquire(digest).status();
  };
  EXPECT_EQ(fetch_as("client-secret").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(fetch_as("nope").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(fetch_as("worker-secret").ok());
  for (const char* token : {"client-secret", "worker-secret"}) {
    grpc::ClientContext context;
    Bearer(token)(&context);
    v1::ArtifactRef ref;
    ref.set_digest(digest);
    v1::ArtifactInfo info;
    EXPECT_TRUE(stub_->Stat(&context, ref, &info).ok()) << token;
  }
  grpc::ClientContext context;
  v1::ArtifactRef ref;
  v1::ArtifactInfo info;
  EXPECT_EQ(stub_->Stat(&context, ref, &info).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace ablate
