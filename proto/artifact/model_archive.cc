// Copyright: the ablate authors.
#include "proto/artifact/model_archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/artifact/checkpoint_files.h"
#include "proto/artifact/digest.h"

namespace ablate::artifact {
namespace {

constexpr int64_t kOctalLimit = int64_t{1} << 33;  // 8^11: largest size + 1 in 11 octal digits.

bool IsAllowed(const std::string& name) { return IsModelFileName(name); }

int64_t Padded(int64_t n) { return (n + kTarBlock - 1) / kTarBlock * kTarBlock; }

absl::Status Errno(int err, const std::string& what) { return absl::ErrnoToStatus(err, what); }

// The canonical header of one member (see the format in the header file).
std::string MakeHeader(const ArchiveMember& m) {
  std::string h(kTarBlock, '\0');
  std::memcpy(&h[0], m.name.data(), m.name.size());
  std::memcpy(&h[100], "0000644", 7);
  std::memcpy(&h[108], "0000000", 7);
  std::memcpy(&h[116], "0000000", 7);
  if (m.size < kOctalLimit) {
    std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(m.size));
  } else {  // GNU base-256: high bit set, big-endian in the remaining 11 bytes.
    h[124] = static_cast<char>(0x80);
    uint64_t v = static_cast<uint64_t>(m.size);
    for (int i = 135; i > 124; --i, v >>= 8) h[i] = static_cast<char>(v & 0xff);
  }
  std::memcpy(&h[136], "00000000000", 11);
  h[156] = '0';
  std::memcpy(&h[257], "ustar", 6);  // Includes the NUL.
  std::memcpy(&h[263], "00", 2);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (char c : h) sum += static_cast<unsigned char>(c);
  std::snprintf(&h[148], 8, "%06o", sum);  // "%06o\0", then the space kept below.
  h[155] = ' ';
  return h;
}

// Name and size from a header block; the caller compares it with MakeHeader's bytes.
ArchiveMember ParseHeader(const char* block) {
  ArchiveMember m;
  m.name.assign(block, strnlen(block, 100));
  if (static_cast<unsigned char>(block[124]) == 0x80) {
    uint64_t v = 0;
    for (int i = 125; i < 136; ++i) v = (v << 8) | static_cast<unsigned char>(block[i]);
    m.size = static_cast<int64_t>(v & 0x7fffffffffffffffULL);
  } else {
    int64_t v = 0;
    for (int i = 124; i < 135 && block[i] >= '0' && block[i] <= '7'; ++i) v = v * 8 + (block[i] - '0');
    m.size = v;
  }
  return m;
}

absl::Status PreadFully(int fd, char* out, size_t n, int64_t offset, const std::string& what) {
  while (n > 0) {
    ssize_t got = ::pread(fd, out, n, offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Errno(errno, absl::StrCat("read ", what));
    if (got == 0) return absl::DataLossError(absl::StrCat(what, ": shorter than expected"));
    out += got;
    n -= static_cast<size_t>(got);
    offset += got;
  }
  return absl::OkStatus();
}

using MemberFn = std::function<absl::Status(const ArchiveMember&, int fd, int64_t offset)>;

// Walks a canonical archive, calling `fn` for each member with the offset of its data.
absl::StatusOr<std::vector<ArchiveMember>> WalkArchive(const std::string& path,
                                                       const MemberFn& fn) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Errno(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Errno(err, absl::StrCat("stat ", path));
  }
  std::vector<ArchiveMember> members;
  absl::Status status;
  const int64_t file_size = st.st_size;
  int64_t pos = 0;
  char block[kTarBlock];
  const std::string zeros(kTarBlock, '\0');
  while (status.ok()) {
    if (pos + kTarBlock > file_size) {
      status = absl::InvalidArgumentError(absl::StrCat(path, ": truncated archive"));
      break;
    }
    status = PreadFully(fd, block, kTarBlock, pos, path);
    if (!status.ok()) break;
    if (std::memcmp(block, zeros.data(), kTarBlock) == 0) {
      std::string second(kTarBlock, '\1');
      if (pos + 2 * kTarBlock == file_size) {
        status = PreadFully(fd, &second[0], kTarBlock, pos + kTarBlock, path);
      }
      if (status.ok() && second != zeros) {
        status = absl::InvalidArgumentError(
            absl::StrCat(path, ": the archive must end with exactly two zero blocks"));
      }
      break;
    }
    ArchiveMember m = ParseHeader(block);
    if (std::string(block, kTarBlock) != MakeHeader(m) || !IsAllowed(m.name) ||
        (!members.empty() && m.name <= members.back().name)) {
      status = absl::InvalidArgumentError(absl::StrCat(
          path, ": member ", members.size(), " ('", m.name, "') is not a canonical model member"));
      break;
    }
    if (pos + kTarBlock + Padded(m.size) > file_size) {
      status = absl::InvalidArgumentError(absl::StrCat(path, ": ", m.name, " is truncated"));
      break;
    }
    status = fn(m, fd, pos + kTarBlock);
    pos += kTarBlock + Padded(m.size);
    members.push_back(std::move(m));
  }
  ::close(fd);
  if (!status.ok()) return status;
  return CanonicalMembers(std::move(members));
}

// Copies `m` (at `offset` of `in_fd`) to dir/name and fsyncs it.
absl::Status ExtractMember(const ArchiveMember& m, int in_fd, int64_t offset,
                           const std::string& dir) {
  const std::string out_path = absl::StrCat(dir, "/", m.name);
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (out < 0) return Errno(errno, absl::StrCat("create ", out_path));
  std::vector<char> buffer(1 << 20);
  absl::Status status;
  for (int64_t done = 0; done < m.size && status.ok();) {
    size_t n = static_cast<size_t>(std::min<int64_t>(buffer.size(), m.size - done));
    status = PreadFully(in_fd, buffer.data(), n, offset + done, m.name);
    for (size_t w = 0; status.ok() && w < n;) {
      ssize_t put = ::write(out, buffer.data() + w, n - w);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) status = Errno(errno, absl::StrCat("write ", out_path));
      if (put > 0) w += static_cast<size_t>(put);
    }
    done += static_cast<int64_t>(n);
  }
  if (status.ok() && ::fsync(out) != 0) status = Errno(errno, absl::StrCat("fsync ", out_path));
  ::close(out);
  return status;
}

}  // namespace

absl::StatusOr<std::vector<ArchiveMember>> CanonicalMembers(std::vector<ArchiveMember> members) {
  std::sort(members.begin(), members.end(),
            [](const ArchiveMember& a, const ArchiveMember& b) { return a.name < b.name; });
  for (size_t i = 0; i < members.size(); ++i) {
    if (!IsAllowed(members[i].name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", members[i].name,
          "' is not a model artifact file (allowed: config.json, model.safetensors or "
          "model-KKKKK-of-NNNNN.safetensors with model.safetensors.index.json, tokenizer.json, "
          "tokenizer_config.json, vocab.json, merges.txt)"));
    }
    if (i > 0 && members[i].name == members[i - 1].name) {
      return absl::InvalidArgumentError(absl::StrCat("'", members[i].name, "' appears twice"));
    }
    if (members[i].size < 0) {
      return absl::InvalidArgumentError(absl::StrCat("'", members[i].name, "' has a negative size"));
    }
  }
  std::vector<std::string> names;
  for (const ArchiveMember& m : members) names.push_back(m.name);
  if (std::find(names.begin(), names.end(), kConfigFileName) == names.end()) {
    return absl::InvalidArgumentError(absl::StrCat("a model artifact needs ", kConfigFileName));
  }
  absl::StatusOr<std::vector<std::string>> weights = WeightFiles(names);
  if (!weights.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("a model artifact needs weights: the folder ", weights.status().message()));
  }
  return members;
}

int64_t ArchiveSize(const std::vector<ArchiveMember>& members) {
  int64_t size = 2 * kTarBlock;
  for (const ArchiveMember& m : members) size += kTarBlock + Padded(m.size);
  return size;
}

struct FolderArchive::Part {
  int64_t begin = 0;       // Header.
  int64_t data_begin = 0;  // File bytes.
  int64_t data_end = 0;
  int64_t end = 0;         // After the padding.
  std::string header;
  std::string path;
  int fd = -1;
};

FolderArchive::FolderArchive(std::string dir, std::vector<ArchiveMember> members)
    : dir_(std::move(dir)), members_(std::move(members)) {
  int64_t pos = 0;
  for (const ArchiveMember& m : members_) {
    Part part;
    part.begin = pos;
    part.data_begin = pos + kTarBlock;
    part.data_end = part.data_begin + m.size;
    part.end = part.data_begin + Padded(m.size);
    part.header = MakeHeader(m);
    part.path = absl::StrCat(dir_, "/", m.name);
    pos = part.end;
    parts_.push_back(std::move(part));
  }
  size_ = pos + 2 * kTarBlock;
}

FolderArchive::~FolderArchive() {
  for (Part& part : parts_) {
    if (part.fd >= 0) ::close(part.fd);
  }
}

absl::Status FolderArchive::OpenFiles() {
  for (size_t i = 0; i < parts_.size(); ++i) {
    Part& part = parts_[i];
    part.fd = ::open(part.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (part.fd < 0) return Errno(errno, absl::StrCat("open ", part.path));
    struct stat st;
    if (::fstat(part.fd, &st) != 0) return Errno(errno, absl::StrCat("stat ", part.path));
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat(part.path, " is not a regular file"));
    }
    if (st.st_size != members_[i].size) {
      return absl::DataLossError(absl::StrCat(part.path, " has ", st.st_size,
                                              " bytes, expected ", members_[i].size));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<FolderArchive>> FolderArchive::Open(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(dir, " is not a folder"));
  }
  absl::StatusOr<std::vector<std::string>> names = ModelFilesIn(dir);
  if (!names.ok()) return names.status();
  std::vector<ArchiveMember> members;
  for (const std::string& name : *names) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (::stat(path.c_str(), &st) != 0) return Errno(errno, absl::StrCat("stat ", path));
    members.push_back({name, static_cast<int64_t>(st.st_size)});
  }
  absl::StatusOr<std::vector<ArchiveMember>> canonical = CanonicalMembers(std::move(members));
  if (!canonical.ok()) {
    return absl::Status(canonical.status().code(),
                        absl::StrCat(dir, ": ", canonical.status().message()));
  }
  return OpenMembers(dir, *std::move(canonical));
}

absl::StatusOr<std::unique_ptr<FolderArchive>> FolderArchive::OpenMembers(
    const std::string& dir, std::vector<ArchiveMember> members) {
  absl::StatusOr<std::vector<ArchiveMember>> canonical = CanonicalMembers(std::move(members));
  if (!canonical.ok()) return canonical.status();
  std::unique_ptr<FolderArchive> archive(new FolderArchive(dir, *std::move(canonical)));
  absl::Status status = archive->OpenFiles();
  if (!status.ok()) return status;
  return archive;
}

absl::Status FolderArchive::Read(int64_t offset, size_t n, char* out) {
  if (offset < 0 || offset + static_cast<int64_t>(n) > size_) {
    return absl::OutOfRangeError(absl::StrCat("read past the archive's end (", size_, ")"));
  }
  auto it = parts_.begin();
  while (n > 0) {
    while (it != parts_.end() && offset >= it->end) ++it;
    size_t take;
    if (it == parts_.end()) {  // Trailer: zeros.
      take = n;
      std::memset(out, 0, take);
    } else if (offset < it->data_begin) {
      take = static_cast<size_t>(std::min<int64_t>(n, it->data_begin - offset));
      std::memcpy(out, it->header.data() + (offset - it->begin), take);
    } else if (offset < it->data_end) {
      take = static_cast<size_t>(std::min<int64_t>(n, it->data_end - offset));
      absl::Status status = PreadFully(it->fd, out, take, offset - it->data_begin, it->path);
      if (!status.ok()) return status;
    } else {
      take = static_cast<size_t>(std::min<int64_t>(n, it->end - offset));
      std::memset(out, 0, take);
    }
    out += take;
    offset += static_cast<int64_t>(take);
    n -= take;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FolderArchive::Digest() {
  Sha256Stream stream;
  std::vector<char> buffer(1 << 20);
  for (int64_t pos = 0; pos < size_;) {
    size_t n = static_cast<size_t>(std::min<int64_t>(buffer.size(), size_ - pos));
    absl::Status status = Read(pos, n, buffer.data());
    if (!status.ok()) return status;
    stream.Update(buffer.data(), n);
    pos += static_cast<int64_t>(n);
  }
  return stream.FinishHex();
}

absl::StatusOr<std::vector<ArchiveMember>> ReadArchiveMembers(const std::string& archive_path) {
  return WalkArchive(archive_path,
                     [](const ArchiveMember&, int, int64_t) { return absl::OkStatus(); });
}

absl::StatusOr<std::vector<ArchiveMember>> UnpackArchive(const std::string& archive_path,
                                                         const std::string& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0) return Errno(errno, absl::StrCat("mkdir ", dir));
  absl::StatusOr<std::vector<ArchiveMember>> members = WalkArchive(
      archive_path, [&](const ArchiveMember& m, int fd, int64_t offset) {
        return ExtractMember(m, fd, offset, dir);
      });
  if (!members.ok()) return members.status();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return members;
}

}  // namespace ablate::artifact
