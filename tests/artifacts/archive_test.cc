// Copyright: the ablate authors.
//
// The model archive format: deterministic bytes, random access, strict unpacking, SHA-256.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utime.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "proto/artifact/digest.h"
#include "proto/artifact/model_archive.h"
#include "gtest/gtest.h"
#include "tests/artifacts/test_util.h"

namespace ablate::artifact {
namespace {

using ::ablate::testing::MakeModelFolder;
using ::ablate::testing::ReadFile;
using ::ablate::testing::TempDir;
using ::ablate::testing::WriteFile;

std::string WholeArchive(FolderArchive& archive) {
  std::string bytes(static_cast<size_t>(archive.size()), '\0');
  EXPECT_TRUE(archive.Read(0, bytes.size(), &bytes[0]).ok());
  return bytes;
}

TEST(DigestTest, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(IsValidDigest(Sha256Hex("abc")));
  EXPECT_FALSE(IsValidDigest("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
  EXPECT_FALSE(IsValidDigest("abc"));
}

TEST(ArchiveTest, SameFolderContentSameBytesAndDigest) {
  TempDir tmp;
  MakeModelFolder(tmp / "a", 5000, 1);
  MakeModelFolder(tmp / "b", 5000, 1);
  ::utime((tmp / "b/config.json").c_str(), nullptr);  // Times do not matter.
  auto a = FolderArchive::Open(tmp / "a");
  auto b = FolderArchive::Open(tmp / "b");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string bytes = WholeArchive(**a);
  EXPECT_EQ(bytes, WholeArchive(**b));
  EXPECT_EQ(*(*a)->Digest(), Sha256Hex(bytes));
  // 4 headers + padded data + 2 zero blocks.
  EXPECT_EQ((*a)->size(), ArchiveSize((*a)->members()));
  EXPECT_EQ(bytes.size() % 512, 0u);
  ASSERT_EQ((*a)->members().size(), 4u);
  EXPECT_EQ((*a)->members()[0].name, "config.json");
  EXPECT_EQ((*a)->members()[2].name, "model.safetensors");
  MakeModelFolder(tmp / "c", 5000, 2);
  EXPECT_NE(*(*FolderArchive::Open(tmp / "c"))->Digest(), *(*a)->Digest());
}

TEST(ArchiveTest, ReadAtAnyOffsetMatchesWholeArchive) {
  TempDir tmp;
  MakeModelFolder(tmp / "m", 3001, 3);
  auto archive = FolderArchive::Open(tmp / "m");
  ASSERT_TRUE(archive.ok());
  const std::string whole = WholeArchive(**archive);
  for (int64_t offset : {0, 1, 511, 512, 700, 1500, 4000, 5000}) {
    for (size_t n : {1, 13, 512, 2000}) {
      if (offset + static_cast<int64_t>(n) > (*archive)->size()) continue;
      std::string part(n, '\0');
      ASSERT_TRUE((*archive)->Read(offset, n, &part[0]).ok());
      EXPECT_EQ(part, whole.substr(offset, n)) << offset << " " << n;
    }
  }
  std::string past(10, '\0');
  EXPECT_FALSE((*archive)->Read((*archive)->size() - 5, 10, &past[0]).ok());
}

TEST(ArchiveTest, SystemTarListsIt) {
  if (std::system("tar --version > /dev/null 2>&1") != 0) GTEST_SKIP() << "no tar";
  TempDir tmp;
  MakeModelFolder(tmp / "m", 1234, 4);
  auto archive = FolderArchive::Open(tmp / "m");
  WriteFile(tmp / "m.tar", WholeArchive(**archive));
  const std::string cmd = "tar -tf " + (tmp / "m.tar") + " > " + (tmp / "list.txt");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(ReadFile(tmp / "list.txt"), "config.json\nmerges.txt\nmodel.safetensors\nvocab.json\n");
  const std::string x = "mkdir " + (tmp / "x") + " && tar -xf " + (tmp / "m.tar") + " -C " +
                        (tmp / "x");
  ASSERT_EQ(std::system(x.c_str()), 0);
  EXPECT_EQ(ReadFile(tmp / "x/model.safetensors"), ReadFile(tmp / "m/model.safetensors"));
}

TEST(ArchiveTest, UnpackRoundTrip) {
  TempDir tmp;
  MakeModelFolder(tmp / "m", 777, 5);
  WriteFile(tmp / "m/pytorch_model.bin", "ignored");
  auto archive = FolderArchive::Open(tmp / "m");
  ASSERT_TRUE(archive.ok());
  WriteFile(tmp / "m.tar", WholeArchive(**archive));
  auto members = UnpackArchive(tmp / "m.tar", tmp / "out");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(*members, (*archive)->members());
  for (const char* f : {"config.json", "model.safetensors", "vocab.json", "merges.txt"}) {
    EXPECT_EQ(ReadFile(tmp / ("out/" + std::string(f))), ReadFile(tmp / ("m/" + std::string(f))));
  }
  EXPECT_FALSE(std::filesystem::exists(tmp / "out/pytorch_model.bin"));
  auto again = FolderArchive::OpenMembers(tmp / "out", *members);
  EXPECT_EQ(*(*again)->Digest(), *(*archive)->Digest());
}

TEST(ArchiveTest, RequiredFilesAndNames) {
  TempDir tmp;
  MakeModelFolder(tmp / "m", 10, 6);
  std::filesystem::remove(tmp / "m/model.safetensors");
  auto archive = FolderArchive::Open(tmp / "m");
  EXPECT_EQ(archive.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(archive.status().message().find("model.safetensors"), std::string::npos);
  EXPECT_EQ(FolderArchive::Open(tmp / "nope").status().code(), absl::StatusCode::kNotFound);
  auto bad = CanonicalMembers({{"config.json", 1}, {"model.safetensors", 1}, {"../x", 1}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  auto dup = CanonicalMembers({{"config.json", 1}, {"config.json", 1}, {"model.safetensors", 1}});
  EXPECT_EQ(dup.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ArchiveTest, NonCanonicalArchivesAreRejected) {
  TempDir tmp;
  MakeModelFolder(tmp / "m", 600, 7);
  auto archive = FolderArchive::Open(tmp / "m");
  const std::string good = WholeArchive(**archive);
  WriteFile(tmp / "good.tar", good);
  ASSERT_TRUE(ReadArchiveMembers(tmp / "good.tar").ok());
  struct Case {
    const char* name;
    std::string bytes;
  };
  std::string renamed = good;
  renamed[0] = '/';  // "/onfig.json": absolute, not allowed (and the checksum breaks).
  std::string mode = good;
  mode[104] = '7';  // Mode 0000744.
  std::string truncated = good.substr(0, good.size() - 512);
  std::string trailing = good + std::string(512, '\0');
  std::string garbage_data = good;  // Data bytes are not checked here (the digest covers them).
  garbage_data[600] ^= 1;
  for (const Case& c : std::vector<Case>{{"renamed", renamed}, {"mode", mode},
                                         {"truncated", truncated}, {"trailing", trailing}}) {
    WriteFile(tmp / "bad.tar", c.bytes);
    EXPECT_EQ(ReadArchiveMembers(tmp / "bad.tar").status().code(),
              absl::StatusCode::kInvalidArgument) << c.name;
    std::filesystem::remove_all(tmp / "out");
    EXPECT_FALSE(UnpackArchive(tmp / "bad.tar", tmp / "out").ok()) << c.name;
  }
  WriteFile(tmp / "data.tar", garbage_data);
  EXPECT_TRUE(ReadArchiveMembers(tmp / "data.tar").ok());
}

TEST(ArchiveTest, FilesOverEightGibUseBase256Sizes) {
  TempDir tmp;
  const int64_t big = (int64_t{8} << 30) + 5;  // Sparse: no disk used.
  MakeModelFolder(tmp / "m", 10, 8);
  ASSERT_EQ(::truncate((tmp / "m/model.safetensors").c_str(), big), 0);
  auto archive = FolderArchive::Open(tmp / "m");
  ASSERT_TRUE(archive.ok()) << archive.status();
  EXPECT_EQ((*archive)->members()[2].size, big);
  // Write the archive sparsely: headers at their offsets, holes for the data.
  int fd = ::open((tmp / "big.tar").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  int64_t pos = 0;
  for (const ArchiveMember& m : (*archive)->members()) {
    std::string header(512, '\0');
    ASSERT_TRUE((*archive)->Read(pos, 512, &header[0]).ok());
    ASSERT_EQ(::pwrite(fd, header.data(), 512, pos), 512);
    if (m.name == "model.safetensors") {
      EXPECT_EQ(static_cast<unsigned char>(header[124]), 0x80u);  // Base-256 marker.
    }
    pos += 512 + (m.size + 511) / 512 * 512;
  }
  ASSERT_EQ(::ftruncate(fd, pos + 1024), 0);
  ::close(fd);
  auto members = ReadArchiveMembers(tmp / "big.tar");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(*members, (*archive)->members());
}

}  // namespace
}  // namespace ablate::artifact
