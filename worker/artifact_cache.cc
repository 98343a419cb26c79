// Copyright: the ablate authors.
#include "worker/artifact_cache.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "proto/artifact/digest.h"
#include "proto/artifact/model_archive.h"

namespace ablate::worker {
namespace fs = std::filesystem;

struct ArtifactCache::Meta {
  struct Stamp {
    std::string name;
    int64_t size = 0, mtime_ns = 0;
    uint64_t ino = 0;
  };
  ablate::v1::ArtifactInfo info;
  std::vector<Stamp> stamps;
};

// Holds the in-process mutex and the cross-process LOCK.
class ArtifactCache::Locked {
 public:
  explicit Locked(const ArtifactCache* cache) : lock_(cache->mu_), fd_(cache->lock_fd_) {
    while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~Locked() { ::flock(fd_, LOCK_UN); }

 private:
  std::lock_guard<std::mutex> lock_;
  int fd_;
};

namespace {

constexpr char kMetaMagic[] = "ablate-artifact-cache 1";
constexpr char kTextFile[] = "data";

bool IsTransient(absl::StatusCode code) {
  return code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
         code == absl::StatusCode::kAborted || code == absl::StatusCode::kUnknown ||
         code == absl::StatusCode::kInternal || code == absl::StatusCode::kDataLoss;
}

std::vector<std::string> EntryFiles(const ablate::v1::ArtifactInfo& info) {
  std::vector<std::string> names;
  if (info.kind() != ablate::v1::ARTIFACT_KIND_MODEL) return {kTextFile};
  for (const auto& f : info.files()) names.push_back(f.name());
  return names;
}

bool StatStamp(const std::string& path, int64_t* size, int64_t* mtime_ns, uint64_t* ino) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  *size = st.st_size;
  *mtime_ns = int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
  *ino = st.st_ino;
  return true;
}

absl::Status WriteAtomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, "create " + tmp);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::ErrnoToStatus(errno, "write " + path);
  }
  return absl::OkStatus();
}

}  // namespace

ArtifactCache::ArtifactCache(ArtifactCacheOptions options, std::unique_ptr<ArtifactSource> source)
    : options_(std::move(options)), source_(std::move(source)) {}

ArtifactCache::~ArtifactCache() {
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

absl::StatusOr<std::unique_ptr<ArtifactCache>> ArtifactCache::Open(
    ArtifactCacheOptions options, std::unique_ptr<ArtifactSource> source) {
  if (options.root.empty()) return absl::InvalidArgumentError("artifact cache: empty root");
  if (!source) return absl::InvalidArgumentError("artifact cache: no source");
  std::unique_ptr<ArtifactCache> cache(new ArtifactCache(std::move(options), std::move(source)));
  absl::Status status = cache->Init();
  if (!status.ok()) return status;
  return cache;
}

absl::Status ArtifactCache::Init() {
  std::error_code ec;
  for (const char* sub : {"tmp", "entries"}) {
    fs::create_directories(Path(sub), ec);
    if (ec) return absl::InternalError(absl::StrCat("mkdir ", Path(sub), ": ", ec.message()));
  }
  lock_fd_ = ::open(Path("LOCK").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return absl::ErrnoToStatus(errno, "open " + Path("LOCK"));
  Locked locked(this);
  // Leftovers of interrupted installs; partial downloads (*.fetch) are kept for resuming.
  for (const auto& e : fs::directory_iterator(Path("tmp"), ec)) {
    if (!absl::EndsWith(e.path().string(), ".fetch")) fs::remove_all(e.path(), ec);
  }
  for (const auto& e : fs::directory_iterator(Path("entries"), ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && !fs::exists(Path("entries/" + name + ".meta"))) {
      fs::remove_all(e.path(), ec);
    }
  }
  return absl::OkStatus();
}

std::string ArtifactCache::EntryDir(const std::string& digest) const {
  return Path("entries/" + digest);
}

ArtifactCacheStats ArtifactCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int64_t ArtifactCache::UsedBytes() const {
  int64_t used = 0;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(options_.root, ec)) {
    if (e.is_regular_file(ec) && !absl::EndsWith(e.path().string(), ".meta")) {
      used += static_cast<int64_t>(e.file_size(ec));
    }
  }
  return used;
}

absl::StatusOr<std::unique_ptr<ArtifactCache::Handle>> ArtifactCache::Acquire(
    const std::string& digest) {
  if (!artifact::IsValidDigest(digest)) {
    return absl::InvalidArgumentError("artifact digest '" + digest + "' is not 64 hex digits");
  }
  Locked locked(this);
  absl::StatusOr<Meta> meta = CheckEntry(digest);
  if (meta.ok()) {
    ++stats_.hits;
  } else {
    if (meta.status().code() == absl::StatusCode::kDataLoss) ++stats_.corrupt;
    RemoveEntry(digest);
    absl::StatusOr<ablate::v1::ArtifactInfo> info = Download(digest);
    if (!info.ok()) return info.status();
    absl::Status status = Install(digest, *info);
    if (!status.ok()) {
      RemoveEntry(digest);
      return status;
    }
    verified_.insert(digest);
    meta = CheckEntry(digest);
    if (!meta.ok()) return meta.status();
  }
  const std::string meta_path = Path("entries/" + digest + ".meta");
  ::utimensat(AT_FDCWD, meta_path.c_str(), nullptr, 0);  // Last use, for LRU.
  const std::string pin_path = Path("entries/" + digest + ".pin");
  int pin = ::open(pin_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (pin < 0) return absl::ErrnoToStatus(errno, "open " + pin_path);
  ::flock(pin, LOCK_SH);
  std::string path = EntryDir(digest);
  if (meta->info.kind() != ablate::v1::ARTIFACT_KIND_MODEL) path += std::string("/") + kTextFile;
  return std::unique_ptr<Handle>(new Handle(std::move(path), std::move(meta->info), pin));
}

ArtifactCache::Handle::~Handle() { ::close(pin_fd_); }  // Drops the shared flock.

// NOT_FOUND: no entry. DATA_LOSS: an entry that is not what its meta says.
absl::StatusOr<ArtifactCache::Meta> ArtifactCache::CheckEntry(const std::string& digest) {
  std::ifstream in(Path("entries/" + digest + ".meta"));
  if (!in) return absl::NotFoundError(digest + " is not cached");
  Meta meta;
  std::string magic;
  int kind = 0;
  int64_t size = 0;
  std::getline(in, magic);
  in >> kind >> size;
  meta.info.set_digest(digest);
  meta.info.set_kind(static_cast<ablate::v1::ArtifactKind>(kind));
  meta.info.set_size(size);
  Meta::Stamp s;
  while (in >> s.name >> s.size >> s.mtime_ns >> s.ino) meta.stamps.push_back(s);
  if (magic != kMetaMagic || meta.stamps.empty()) return absl::DataLossError("bad meta");
  bool stamps_match = true;
  std::set<std::string> expected;
  for (const Meta::Stamp& stamp : meta.stamps) {
    Meta::Stamp now;
    if (!StatStamp(EntryDir(digest) + "/" + stamp.name, &now.size, &now.mtime_ns, &now.ino)) {
      return absl::DataLossError(digest + ": " + stamp.name + " is missing");
    }
    stamps_match &= now.size == stamp.size && now.mtime_ns == stamp.mtime_ns && now.ino == stamp.ino;
    expected.insert(stamp.name);
    if (kind == ablate::v1::ARTIFACT_KIND_MODEL) {
      ablate::v1::ArtifactFile* file = meta.info.add_files();
      file->set_name(stamp.name);
      file->set_size(stamp.size);
    }
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(EntryDir(digest), ec)) {
    if (!expected.count(e.path().filename().string())) {
      return absl::DataLossError(digest + ": unexpected file " + e.path().string());
    }
  }
  const bool trusted = verified_.count(digest) || !options_.verify_on_first_use;
  if (stamps_match && trusted) return meta;
  absl::Status status = VerifyContent(digest, meta);
  if (!status.ok()) return status;
  verified_.insert(digest);
  if (!stamps_match) {  // Same content, touched files: record the new stamps.
    status = Install(digest, meta.info);
    if (!status.ok()) return status;
  }
  return meta;
}

absl::Status ArtifactCache::VerifyContent(const std::string& digest, const Meta& meta) {
  ++stats_.full_verifications;
  absl::StatusOr<std::string> actual;
  if (meta.info.kind() == ablate::v1::ARTIFACT_KIND_MODEL) {
    std::vector<artifact::ArchiveMember> members;
    for (const Meta::Stamp& s : meta.stamps) members.push_back({s.name, s.size});
    auto archive = artifact::FolderArchive::OpenMembers(EntryDir(digest), std::move(members));
    if (!archive.ok()) return absl::DataLossError(std::string(archive.status().message()));
    actual = (*archive)->Digest();
  } else {
    actual = artifact::Sha256OfFile(EntryDir(digest) + "/" + kTextFile);
  }
  if (!actual.ok()) return absl::DataLossError(std::string(actual.status().message()));
  if (*actual != digest) {
    return absl::DataLossError(absl::StrCat("cached ", digest, " now hashes to ", *actual));
  }
  return absl::OkStatus();
}

void ArtifactCache::RemoveEntry(const std::string& digest) {
  std::error_code ec;
  fs::remove(Path("entries/" + digest + ".meta"), ec);  // First: the entry stops being valid.
  fs::remove_all(EntryDir(digest), ec);
}

absl::StatusOr<ablate::v1::ArtifactInfo> ArtifactCache::Download(const std::string& digest) {
  const std::string part = Path("tmp/" + digest + ".fetch");
  int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::ErrnoToStatus(errno, "open " + part);
  struct stat st;
  int64_t offset = ::fstat(fd, &st) == 0 ? st.st_size : 0;
  ablate::v1::ArtifactInfo info;
  absl::Status status;
  absl::Duration backoff = options_.retry_backoff;
  for (int attempt = 0; attempt < std::max(1, options_.fetch_attempts); ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(backoff);
      backoff = std::min(backoff * 2, absl::Seconds(5));
    }
    status = DownloadOnce(digest, fd, &offset, &info);
    if (status.ok() && offset == info.size()) {
      ::fdatasync(fd);
      absl::StatusOr<std::string> actual = artifact::Sha256OfFile(part);
      if (actual.ok() && *actual == digest) break;
      ++stats_.corrupt;
      status = absl::DataLossError(absl::StrCat("download of ", digest, " hashes to ",
                                                actual.ok() ? *actual : "(unreadable)"));
    }
    if (status.code() == absl::StatusCode::kDataLoss || status.ok()) {  // Start over.
      ::ftruncate(fd, 0);
      offset = 0;
      if (status.ok()) status = absl::DataLossError("download ended early");
    }
    if (!IsTransient(status.code())) break;
  }
  ::close(fd);
  if (!status.ok()) return status;
  ++stats_.fetches;
  return info;
}

// One Fetch call from *offset; appends to `fd` and advances *offset.
absl::Status ArtifactCache::DownloadOnce(const std::string& digest, int fd, int64_t* offset,
                                         ablate::v1::ArtifactInfo* info) {
  if (*offset > 0) ++stats_.resumed_fetches;
  auto on_info = [&](const ablate::v1::ArtifactInfo& got) -> absl::Status {
    *info = got;
    if (got.size() > options_.max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "artifact ", digest, " has ", got.size(), " bytes; the cache holds ", options_.max_bytes));
    }
    if (*offset > got.size()) return absl::DataLossError("partial download is too long");
    return EnsureRoom(got.size() - *offset, digest);
  };
  auto on_data = [&](int64_t at, absl::string_view data) -> absl::Status {
    if (at != *offset || at + static_cast<int64_t>(data.size()) > info->size()) {
      return absl::DataLossError("fetch: chunk out of place");
    }
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd, data.data(), data.size(), *offset);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return absl::ErrnoToStatus(errno, "write download of " + digest);
      data.remove_prefix(static_cast<size_t>(n));
      *offset += n;
      stats_.fetched_bytes += n;
    }
    return absl::OkStatus();
  };
  return source_->Fetch(digest, *offset, on_info, on_data);
}

absl::Status ArtifactCache::Install(const std::string& digest,
                                    const ablate::v1::ArtifactInfo& info) {
  const std::string part = Path("tmp/" + digest + ".fetch");
  const std::string staging = Path("tmp/" + digest + ".unpack");
  std::error_code ec;
  if (fs::exists(part)) {  // A fresh download: unpack it into place.
    fs::remove_all(staging, ec);
    if (info.kind() == ablate::v1::ARTIFACT_KIND_MODEL) {
      auto members = artifact::UnpackArchive(part, staging);
      if (!members.ok()) return members.status();
    } else {
      fs::create_directories(staging, ec);
      fs::rename(part, staging + "/" + kTextFile, ec);
      if (ec) return absl::InternalError("install " + digest + ": " + ec.message());
    }
    fs::remove_all(EntryDir(digest), ec);
    fs::rename(staging, EntryDir(digest), ec);
    if (ec) return absl::InternalError("install " + digest + ": " + ec.message());
    fs::remove(part, ec);
  }
  std::ostringstream meta;
  meta << kMetaMagic << "\n" << static_cast<int>(info.kind()) << " " << info.size() << "\n";
  for (const std::string& name : EntryFiles(info)) {
    int64_t size, mtime_ns;
    uint64_t ino;
    if (!StatStamp(EntryDir(digest) + "/" + name, &size, &mtime_ns, &ino)) {
      return absl::DataLossError(digest + ": " + name + " missing after install");
    }
    meta << name << " " << size << " " << mtime_ns << " " << ino << "\n";
  }
  return WriteAtomic(Path("entries/" + digest + ".meta"), meta.str());
}

absl::Status ArtifactCache::EnsureRoom(int64_t need, const std::string& digest) {
  struct Entry {
    fs::file_time_type last_use;
    std::string digest;
  };
  std::vector<Entry> entries;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(Path("entries"), ec)) {
    const std::string name = e.path().filename().string();
    if (absl::EndsWith(name, ".meta")) {
      entries.push_back({fs::last_write_time(e.path(), ec), name.substr(0, name.size() - 5)});
    }
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.last_use < b.last_use; });
  for (const Entry& entry : entries) {
    if (UsedBytes() + need <= options_.max_bytes) return absl::OkStatus();
    if (entry.digest == digest) continue;
    const std::string pin_path = Path("entries/" + entry.digest + ".pin");
    int pin = ::open(pin_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (pin < 0) continue;
    if (::flock(pin, LOCK_EX | LOCK_NB) == 0) {  // Nobody uses it.
      RemoveEntry(entry.digest);
      fs::remove(pin_path, ec);
      verified_.erase(entry.digest);
      ++stats_.evictions;
    }
    ::close(pin);
  }
  if (UsedBytes() + need <= options_.max_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "artifact cache ", options_.root, ": ", need, " more bytes do not fit in ",
      options_.max_bytes, " (", UsedBytes(), " used by entries in use or downloads)"));
}

absl::StatusOr<ResolvedModel> ResolveModel(ArtifactCache* cache,
                                           const ablate::v1::ModelRef& model) {
  ResolvedModel resolved;
  if (model.artifact_digest().empty()) {
    resolved.dir = model.path();
    return resolved;
  }
  if (cache == nullptr) {
    return absl::FailedPreconditionError(
        "the task names model artifact " + model.artifact_digest() +
        " but this worker has no artifact cache (--cache-dir)");
  }
  absl::StatusOr<std::unique_ptr<ArtifactCache::Handle>> handle =
      cache->Acquire(model.artifact_digest());
  if (!handle.ok()) return handle.status();
  if ((*handle)->info().kind() != ablate::v1::ARTIFACT_KIND_MODEL) {
    return absl::InvalidArgumentError("artifact " + model.artifact_digest() +
                                      " is not a model folder");
  }
  resolved.dir = (*handle)->path();
  resolved.pin = *std::move(handle);
  return resolved;
}

}  // namespace ablate::worker
