// Copyright: the ablate authors.
#include "client/upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/artifact/digest.h"
#include "proto/artifact/model_archive.h"
#include "proto/grpc_status.h"

namespace ablate::client {
namespace {

// The bytes of one artifact with random access, and its header (without the digest).
class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t size() const = 0;
  virtual ablate::v1::UploadHeader Header() const = 0;
  virtual absl::Status Read(int64_t offset, size_t n, char* out) = 0;
};

class FolderSource final : public Source {
 public:
  explicit FolderSource(std::unique_ptr<artifact::FolderArchive> archive)
      : archive_(std::move(archive)) {}
  int64_t size() const override { return archive_->size(); }
  ablate::v1::UploadHeader Header() const override {
    ablate::v1::UploadHeader header;
    header.set_kind(ablate::v1::ARTIFACT_KIND_MODEL);
    header.set_total_size(size());
    for (const artifact::ArchiveMember& m : archive_->members()) {
      ablate::v1::ArtifactFile* file = header.add_files();
      file->set_name(m.name);
      file->set_size(m.size);
    }
    return header;
  }
  absl::Status Read(int64_t offset, size_t n, char* out) override {
    return archive_->Read(offset, n, out);
  }

 private:
  std::unique_ptr<artifact::FolderArchive> archive_;
};

class FileSource final : public Source {
 public:
  FileSource(std::string path, int fd, int64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~FileSource() override { ::close(fd_); }
  int64_t size() const override { return size_; }
  ablate::v1::UploadHeader Header() const override {
    ablate::v1::UploadHeader header;
    header.set_kind(ablate::v1::ARTIFACT_KIND_TEXT);
    header.set_total_size(size_);
    return header;
  }
  absl::Status Read(int64_t offset, size_t n, char* out) override {
    while (n > 0) {
      ssize_t got = ::pread(fd_, out, n, offset);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return absl::ErrnoToStatus(errno, "read " + path_);
      if (got == 0) return absl::DataLossError(path_ + " shrank while uploading");
      out += got;
      n -= static_cast<size_t>(got);
      offset += got;
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  const int fd_;
  const int64_t size_;
};

using Opener = std::function<absl::StatusOr<std::unique_ptr<Source>>()>;

absl::StatusOr<std::string> DigestOf(Source& source) {
  artifact::Sha256Stream stream;
  std::vector<char> buffer(1 << 20);
  for (int64_t pos = 0; pos < source.size();) {
    size_t n = static_cast<size_t>(std::min<int64_t>(buffer.size(), source.size() - pos));
    absl::Status status = source.Read(pos, n, buffer.data());
    if (!status.ok()) return status;
    stream.Update(buffer.data(), n);
    pos += static_cast<int64_t>(n);
  }
  return stream.FinishHex();
}

bool IsTransient(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted || code == absl::StatusCode::kCancelled ||
         code == absl::StatusCode::kUnknown || code == absl::StatusCode::kInternal;
}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> Unary(const UploadOptions& options, Method method,
                               const Request& request) {
  grpc::ClientContext context;
  if (options.prepare) options.prepare(&context);
  Response response;
  absl::Status status = ablate::proto::FromGrpcStatus(method(&context, request, &response));
  if (!status.ok()) return status;
  return response;
}

// One Upload stream: the header, then the bytes from `offset`.
absl::StatusOr<ablate::v1::UploadResponse> Stream(
    ablate::v1::ArtifactService::StubInterface* stub, Source& source,
    const ablate::v1::UploadHeader& header, int64_t offset, const UploadOptions& options,
    int64_t* bytes_sent) {
  grpc::ClientContext context;
  if (options.prepare) options.prepare(&context);
  ablate::v1::UploadResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<ablate::v1::UploadRequest>> writer =
      stub->Upload(&context, &response);
  ablate::v1::UploadRequest request;
  *request.mutable_header() = header;
  bool open = writer->Write(request);
  const size_t chunk_bytes = std::clamp<size_t>(options.chunk_bytes, 1, size_t{1} << 20);
  absl::Status read_status;
  for (int64_t pos = offset; open && pos < source.size();) {
    const size_t n = static_cast<size_t>(std::min<int64_t>(chunk_bytes, source.size() - pos));
    ablate::v1::UploadChunk* chunk = request.mutable_chunk();
    chunk->set_offset(pos);
    chunk->mutable_data()->resize(n);
    read_status = source.Read(pos, n, &(*chunk->mutable_data())[0]);
    if (!read_status.ok()) {
      context.TryCancel();
      break;
    }
    open = writer->Write(request);
    if (!open) break;
    pos += static_cast<int64_t>(n);
    *bytes_sent += static_cast<int64_t>(n);
    if (options.progress) options.progress(pos, source.size());
  }
  if (open && read_status.ok()) writer->WritesDone();
  absl::Status status = ablate::proto::FromGrpcStatus(writer->Finish());
  if (!read_status.ok()) return read_status;
  if (!status.ok()) return status;
  return response;
}

absl::StatusOr<UploadResult> Run(ablate::v1::ArtifactService::StubInterface* stub,
                                 const Opener& open, const UploadOptions& options) {
  absl::StatusOr<std::unique_ptr<Source>> source = open();
  if (!source.ok()) return source.status();
  absl::StatusOr<std::string> digest = DigestOf(**source);
  if (!digest.ok()) return digest.status();
  UploadResult result;
  absl::Status last;
  absl::Duration backoff = options.retry_backoff;
  using v1::ArtifactRef;
  ArtifactRef ref;
  for (int attempt = 0; attempt < std::max(1, options.max_attempts); ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
    ref.set_digest(*digest);
    auto status = Unary<ArtifactRef, v1::UploadStatus>(
        options, [&](auto* c, const auto& q, auto* r) { return stub->GetUploadStatus(c, q, r); },
        ref);
    if (!status.ok()) {
      last = status.status();
      if (IsTransient(last.code())) continue;
      return last;
    }
    if (attempt == 0) result.resumed_from = status->received_bytes();
    if (status->complete()) {
      auto info = Unary<ArtifactRef, v1::ArtifactInfo>(
          options, [&](auto* c, const auto& q, auto* r) { return stub->Stat(c, q, r); }, ref);
      if (!info.ok()) return info.status();
      result.artifact = *std::move(info);
      result.already_present = result.bytes_sent == 0;
      return result;
    }
    ablate::v1::UploadHeader header = (*source)->Header();
    header.set_digest(*digest);
    const int64_t offset =
        status->total_size() == (*source)->size() ? status->received_bytes() : 0;
    ++result.attempts;
    auto response = Stream(stub, **source, header, offset, options, &result.bytes_sent);
    if (response.ok() && response->complete()) {
      result.artifact = response->artifact();
      result.already_present = response->already_present() && result.bytes_sent == 0;
      return result;
    }
    last = response.ok() ? absl::UnavailableError("upload stream ended incomplete")
                         : response.status();
    if (last.code() == absl::StatusCode::kDataLoss) {  // Changed files: hash them again.
      source = open();
      if (!source.ok()) return source.status();
      digest = DigestOf(**source);
      if (!digest.ok()) return digest.status();
      continue;
    }
    if (!IsTransient(last.code())) return last;
  }
  return absl::Status(last.code(), absl::StrCat("upload failed after ", options.max_attempts,
                                                " attempts: ", last.message()));
}

}  // namespace

absl::StatusOr<UploadResult> UploadModelFolder(ablate::v1::ArtifactService::StubInterface* stub,
                                               const std::string& dir,
                                               const UploadOptions& options) {
  return Run(stub, [&]() -> absl::StatusOr<std::unique_ptr<Source>> {
    auto archive = artifact::FolderArchive::Open(dir);
    if (!archive.ok()) return archive.status();
    return std::unique_ptr<Source>(new FolderSource(*std::move(archive)));
  }, options);
}

absl::StatusOr<UploadResult> UploadTextFile(ablate::v1::ArtifactService::StubInterface* stub,
                                            const std::string& path,
                                            const UploadOptions& options) {
  return Run(stub, [&]() -> absl::StatusOr<std::unique_ptr<Source>> {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return absl::ErrnoToStatus(errno, "open " + path);
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return absl::InvalidArgumentError(path + " is not a regular file");
    }
    return std::unique_ptr<Source>(new FileSource(path, fd, st.st_size));
  }, options);
}

absl::StatusOr<std::string> ModelFolderDigest(const std::string& dir) {
  auto archive = artifact::FolderArchive::Open(dir);
  if (!archive.ok()) return archive.status();
  return (*archive)->Digest();
}

}  // namespace ablate::client
