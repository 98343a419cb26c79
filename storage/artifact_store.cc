// Copyright: the ablate authors.
#include "storage/artifact_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/artifact/digest.h"
#include "proto/artifact/model_archive.h"

namespace ablate::storage {
namespace fs = std::filesystem;

struct ArtifactStore::Partial {
  explicit Partial(std::string d) : digest(std::move(d)) {}
  const std::string digest;
  std::mutex mu;
  uint64_t generation = 0;       // Bumped by every BeginUpload and by the end of the upload.
  int64_t received = 0;
  ablate::v1::UploadHeader header;
  bool has_header = false;
  bool gone = false;             // Published or dropped: no longer in partials_.
};

namespace {

absl::Status Errno(const std::string& what) { return absl::ErrnoToStatus(errno, what); }

void FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

// Writes `bytes` to path.tmp, fsyncs it and renames it over `path`.
absl::Status WriteFileAtomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create " + tmp);
  ssize_t n = ::write(fd, bytes.data(), bytes.size());
  bool ok = n == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) return Errno("write " + path);
  return absl::OkStatus();
}

bool ReadFileBytes(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

bool SameUpload(const ablate::v1::UploadHeader& a, const ablate::v1::UploadHeader& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

absl::Status CheckDigest(absl::string_view digest) {
  if (artifact::IsValidDigest(digest)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("digest: '", digest, "' is not 64 lower-case hex digits"));
}

// Kind, size and, for models, the member list against total_size.
absl::Status ValidateHeader(const ablate::v1::UploadHeader& h, int64_t max_bytes) {
  absl::Status status = CheckDigest(h.digest());
  if (!status.ok()) return status;
  if (h.kind() != ablate::v1::ARTIFACT_KIND_MODEL && h.kind() != ablate::v1::ARTIFACT_KIND_TEXT) {
    return absl::InvalidArgumentError("kind: must be ARTIFACT_KIND_MODEL or ARTIFACT_KIND_TEXT");
  }
  if (h.total_size() <= 0) return absl::InvalidArgumentError("total_size: must be positive");
  if (h.total_size() > max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "total_size: ", h.total_size(), " bytes is above the artifact limit of ", max_bytes));
  }
  if (h.kind() != ablate::v1::ARTIFACT_KIND_MODEL) return absl::OkStatus();
  std::vector<artifact::ArchiveMember> members;
  for (const auto& f : h.files()) members.push_back({f.name(), f.size()});
  auto canonical = artifact::CanonicalMembers(std::move(members));
  if (!canonical.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("files: ", canonical.status().message()));
  }
  if (artifact::ArchiveSize(*canonical) != h.total_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "total_size: ", h.total_size(), " does not match the archive of the listed files (",
        artifact::ArchiveSize(*canonical), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

ArtifactStore::ArtifactStore(ArtifactStoreOptions options) : options_(std::move(options)) {}

ArtifactStore::~ArtifactStore() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // Releases the flock.
}

absl::StatusOr<std::unique_ptr<ArtifactStore>> ArtifactStore::Open(ArtifactStoreOptions options) {
  if (options.root.empty()) return absl::InvalidArgumentError("artifact store: empty root");
  std::unique_ptr<ArtifactStore> store(new ArtifactStore(std::move(options)));
  absl::Status status = store->Init();
  if (!status.ok()) return status;
  return store;
}

absl::Status ArtifactStore::Init() {
  std::error_code ec;
  const std::string& root = options_.root;
  for (const char* sub : {"", "/sha256", "/partial"}) {
    fs::create_directories(root + sub, ec);
    if (ec) return absl::InternalError(absl::StrCat("mkdir ", root, sub, ": ", ec.message()));
  }
  lock_fd_ = ::open((root + "/LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return Errno("open " + root + "/LOCK");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(root + " is in use by another process");
  }
  for (const auto& dir : fs::directory_iterator(root + "/sha256", ec)) {
    for (const auto& entry : fs::directory_iterator(dir.path(), ec)) {
      const std::string name = entry.path().filename().string();
      if (absl::EndsWith(name, ".tmp")) fs::remove(entry.path(), ec);
      if (artifact::IsValidDigest(name)) stored_bytes_ += entry.file_size(ec);
    }
  }
  const auto cutoff = fs::file_time_type::clock::now() -
                      std::chrono::seconds(absl::ToInt64Seconds(options_.partial_ttl));
  for (const auto& entry : fs::directory_iterator(root + "/partial", ec)) {
    const std::string name = entry.path().filename().string();
    const std::string digest = name.substr(0, name.find('.'));
    if (!absl::EndsWith(name, ".header")) {
      if (!fs::exists(PartialPath(digest, ".header"))) fs::remove(entry.path(), ec);
      continue;
    }
    auto partial = std::make_shared<Partial>(digest);
    std::string bytes;
    const std::string data_path = PartialPath(digest, ".partial");
    std::error_code size_ec;
    int64_t size = static_cast<int64_t>(fs::file_size(data_path, size_ec));
    bool keep = artifact::IsValidDigest(digest) && ReadFileBytes(entry.path(), &bytes) &&
                partial->header.ParseFromString(bytes) && !size_ec &&
                size <= partial->header.total_size() &&
                fs::last_write_time(data_path, size_ec) >= cutoff;
    if (!keep) {
      fs::remove(entry.path(), ec);
      fs::remove(data_path, ec);
      continue;
    }
    partial->has_header = true;
    partial->received = size;
    reserved_bytes_ += partial->header.total_size();
    partials_[digest] = std::move(partial);
  }
  return absl::OkStatus();
}

std::string ArtifactStore::BlobPath(absl::string_view digest) const {
  return absl::StrCat(options_.root, "/sha256/", digest.substr(0, 2), "/", digest);
}

std::string ArtifactStore::PartialPath(absl::string_view digest, absl::string_view ext) const {
  return absl::StrCat(options_.root, "/partial/", digest, ext);
}

int64_t ArtifactStore::stored_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stored_bytes_;
}

absl::StatusOr<ablate::v1::ArtifactInfo> ArtifactStore::Stat(absl::string_view digest) const {
  absl::Status status = CheckDigest(digest);
  if (!status.ok()) return status;
  const std::string path = BlobPath(digest);
  std::string bytes;
  ablate::v1::ArtifactInfo info;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !ReadFileBytes(path + ".info", &bytes) ||
      !info.ParseFromString(bytes) || info.size() != st.st_size) {
    return absl::NotFoundError(absl::StrCat("artifact ", digest, " is not stored"));
  }
  return info;
}

absl::StatusOr<ablate::v1::UploadStatus> ArtifactStore::GetUploadStatus(
    absl::string_view digest) {
  ablate::v1::UploadStatus result;
  result.set_digest(std::string(digest));
  absl::StatusOr<ablate::v1::ArtifactInfo> info = Stat(digest);
  if (info.ok()) {
    result.set_complete(true);
    result.set_received_bytes(info->size());
    result.set_total_size(info->size());
    return result;
  }
  if (info.status().code() != absl::StatusCode::kNotFound) return info.status();
  std::shared_ptr<Partial> partial;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = partials_.find(digest);
    if (it == partials_.end()) return result;
    partial = it->second;
  }
  {
    std::lock_guard<std::mutex> lock(partial->mu);
    if (!partial->gone) {
      result.set_received_bytes(partial->received);
      result.set_total_size(partial->header.total_size());
      return result;
    }
  }
  return GetUploadStatus(digest);  // Published or dropped meanwhile: look again.
}

absl::Status ArtifactStore::CheckCapacity(const ablate::v1::UploadHeader& header,
                                          int64_t already_reserved) {
  absl::Status space = CheckFreeSpace(header.total_size());
  if (!space.ok()) return space;
  if (options_.max_total_bytes <= 0) return absl::OkStatus();
  const int64_t after = stored_bytes_ + reserved_bytes_ - already_reserved + header.total_size();
  if (after <= options_.max_total_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "artifact store full: ", header.total_size(), " more bytes would exceed its limit of ",
      options_.max_total_bytes, " (", stored_bytes_, " stored, ", reserved_bytes_,
      " reserved by unfinished uploads)"));
}

absl::StatusOr<std::unique_ptr<ArtifactStore::Upload>> ArtifactStore::BeginUpload(
    const ablate::v1::UploadHeader& header) {
  absl::Status status = ValidateHeader(header, options_.max_artifact_bytes);
  if (!status.ok()) return status;
  const std::string& digest = header.digest();
  for (;;) {
    if (Stat(digest).ok()) {
      return absl::AlreadyExistsError(absl::StrCat("artifact ", digest, " is stored"));
    }
    std::shared_ptr<Partial> partial;
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::shared_ptr<Partial>& slot = partials_[digest];
      if (!slot) slot = std::make_shared<Partial>(digest);
      partial = slot;
    }
    std::lock_guard<std::mutex> plock(partial->mu);
    if (partial->gone) continue;  // Published or dropped between the two locks: look again.
    const bool reset = !partial->has_header || !SameUpload(partial->header, header);
    if (reset) {
      std::lock_guard<std::mutex> lock(mu_);
      const int64_t old = partial->has_header ? partial->header.total_size() : 0;
      status = CheckCapacity(header, old);
      if (!status.ok()) {
        if (!partial->has_header) {
          partial->gone = true;
          partials_.erase(digest);
        }
        return status;
      }
      reserved_bytes_ += header.total_size() - old;
    }
    const std::string data_path = PartialPath(digest, ".partial");
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (reset ? O_TRUNC : 0);
    int fd = ::open(data_path.c_str(), flags, 0644);
    if (fd < 0) return Errno("open " + data_path);
    if (reset) {
      partial->header = header;
      partial->has_header = true;
      partial->received = 0;
      status = WriteFileAtomic(PartialPath(digest, ".header"), header.SerializeAsString());
      if (!status.ok()) {
        ::close(fd);
        return status;
      }
    }
    const uint64_t generation = ++partial->generation;
    return std::unique_ptr<Upload>(
        new Upload(this, partial, generation, fd, header.total_size()));
  }
}

absl::StatusOr<std::unique_ptr<ArtifactStore::Blob>> ArtifactStore::OpenBlob(
    absl::string_view digest) const {
  absl::StatusOr<ablate::v1::ArtifactInfo> info = Stat(digest);
  if (!info.ok()) return info.status();
  int fd = ::open(BlobPath(digest).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("artifact ", digest, " is not stored"));
  return std::unique_ptr<Blob>(new Blob(fd, *std::move(info)));
}

bool ArtifactStore::DropPartialIfOlder(Partial& partial, fs::file_time_type cutoff) {
  std::lock_guard<std::mutex> lock(partial.mu);
  if (partial.gone) return false;
  std::error_code ec;
  const auto written = fs::last_write_time(PartialPath(partial.digest, ".partial"), ec);
  if (!ec && written >= cutoff) return false;
  DropPartial(partial);
  return true;
}

void ArtifactStore::DropPartial(Partial& partial) {
  std::error_code ec;
  fs::remove(PartialPath(partial.digest, ".partial"), ec);
  fs::remove(PartialPath(partial.digest, ".header"), ec);
  partial.gone = true;
  ++partial.generation;
  std::lock_guard<std::mutex> lock(mu_);
  reserved_bytes_ -= partial.header.total_size();
  auto it = partials_.find(partial.digest);
  if (it != partials_.end() && it->second.get() == &partial) partials_.erase(it);
}

absl::StatusOr<ablate::v1::ArtifactInfo> ArtifactStore::Publish(Partial& partial, int fd) {
  const ablate::v1::UploadHeader& h = partial.header;
  const std::string data_path = PartialPath(h.digest(), ".partial");
  if (::fdatasync(fd) != 0) return Errno("fsync " + data_path);
  absl::StatusOr<std::string> actual = artifact::Sha256OfFile(data_path, h.total_size());
  if (!actual.ok()) return actual.status();
  if (*actual != h.digest()) {
    DropPartial(partial);
    return absl::DataLossError(absl::StrCat("received bytes have SHA-256 ", *actual,
                                            ", not the declared ", h.digest(),
                                            "; the partial upload was discarded"));
  }
  ablate::v1::ArtifactInfo info;
  info.set_digest(h.digest());
  info.set_kind(h.kind());
  info.set_size(h.total_size());
  info.set_created_unix_ms(NowMs());
  if (h.kind() == ablate::v1::ARTIFACT_KIND_MODEL) {
    absl::StatusOr<std::vector<artifact::ArchiveMember>> members =
        artifact::ReadArchiveMembers(data_path);
    if (!members.ok()) {
      DropPartial(partial);
      return absl::InvalidArgumentError(absl::StrCat("not a model archive: ",
                                                      members.status().message()));
    }
    for (const auto& m : *members) {
      ablate::v1::ArtifactFile* file = info.add_files();
      file->set_name(m.name);
      file->set_size(m.size);
    }
  }
  const std::string blob = BlobPath(h.digest());
  const std::string dir = blob.substr(0, blob.rfind('/'));
  std::error_code ec;
  fs::create_directories(dir, ec);
  absl::Status status = WriteFileAtomic(blob + ".info", info.SerializeAsString());
  if (!status.ok()) return status;
  if (::rename(data_path.c_str(), blob.c_str()) != 0) return Errno("rename to " + blob);
  FsyncDir(dir);
  FsyncDir(options_.root + "/partial");
  fs::remove(PartialPath(h.digest(), ".header"), ec);
  partial.gone = true;
  ++partial.generation;
  std::lock_guard<std::mutex> lock(mu_);
  stored_bytes_ += h.total_size();
  reserved_bytes_ -= h.total_size();
  auto it = partials_.find(h.digest());
  if (it != partials_.end() && it->second.get() == &partial) partials_.erase(it);
  return info;
}

// ---------------------------------------------------------------- Upload

ArtifactStore::Upload::Upload(ArtifactStore* store, std::shared_ptr<Partial> partial,
                              uint64_t generation, int fd, int64_t total_size)
    : store_(store),
      partial_(std::move(partial)),
      generation_(generation),
      fd_(fd),
      total_size_(total_size) {}

ArtifactStore::Upload::~Upload() {
  {
    std::lock_guard<std::mutex> lock(partial_->mu);
    if (partial_->generation == generation_) ::fdatasync(fd_);
  }
  ::close(fd_);
}

int64_t ArtifactStore::Upload::received() const {
  std::lock_guard<std::mutex> lock(partial_->mu);
  return partial_->received;
}

absl::Status ArtifactStore::Upload::CheckCurrent() const {
  if (partial_->generation == generation_) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("upload of ", partial_->digest,
                                         " was taken over by a newer stream or has ended"));
}

absl::Status ArtifactStore::Upload::Write(int64_t offset, absl::string_view data) {
  std::lock_guard<std::mutex> lock(partial_->mu);
  absl::Status status = CheckCurrent();
  if (!status.ok()) return status;
  const int64_t received = partial_->received;
  if (offset < 0 || offset > received) {
    return absl::FailedPreconditionError(
        absl::StrCat("chunk offset ", offset, ": expected offset ", received));
  }
  const int64_t skip = received - offset;
  if (skip >= static_cast<int64_t>(data.size())) return absl::OkStatus();
  data.remove_prefix(static_cast<size_t>(skip));
  if (received + static_cast<int64_t>(data.size()) > total_size_) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk ends past total_size ", total_size_));
  }
  int64_t pos = received;
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd_, data.data(), data.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write partial upload " + partial_->digest);
    data.remove_prefix(static_cast<size_t>(n));
    pos += n;
    partial_->received = pos;
  }
  return absl::OkStatus();
}

absl::StatusOr<ablate::v1::ArtifactInfo> ArtifactStore::Upload::Finish() {
  std::lock_guard<std::mutex> lock(partial_->mu);
  absl::Status status = CheckCurrent();
  if (!status.ok()) return status;
  if (partial_->received != total_size_) {
    return absl::FailedPreconditionError(absl::StrCat(
        "upload incomplete: ", partial_->received, " of ", total_size_, " bytes received"));
  }
  return store_->Publish(*partial_, fd_);
}

// ---------------------------------------------------------------- Blob

ArtifactStore::Blob::Blob(int fd, ablate::v1::ArtifactInfo info)
    : fd_(fd), size_(info.size()), info_(std::move(info)) {}

ArtifactStore::Blob::~Blob() { ::close(fd_); }

absl::Status ArtifactStore::Blob::Read(int64_t offset, size_t max, std::string* out) {
  if (offset < 0 || offset > size_) {
    return absl::OutOfRangeError(absl::StrCat("offset ", offset, " is past the end (", size_, ")"));
  }
  out->resize(static_cast<size_t>(std::min<int64_t>(max, size_ - offset)));
  size_t done = 0;
  while (done < out->size()) {
    ssize_t n = ::pread(fd_, &(*out)[done], out->size() - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return absl::DataLossError("stored artifact is shorter than recorded");
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace ablate::storage
