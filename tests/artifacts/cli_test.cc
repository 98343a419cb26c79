// Copyright: the ablate authors.
//
// `ablate upload` (the real binary) against an in-process ArtifactService on loopback: the
// digest it prints is the folder's, a second upload sends nothing, --text uploads a file.
#include <grpcpp/grpcpp.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include "client/upload.h"
#include "gtest/gtest.h"
#include "proto/artifact/digest.h"
#include "server/artifact_service.h"
#include "storage/artifact_store.h"
#include "tests/artifacts/test_util.h"

namespace ablate {
namespace {

using ::ablate::testing::MakeModelFolder;
using ::ablate::testing::TempDir;
using ::ablate::testing::WriteFile;

// Runs a shell command; returns its stdout and sets *code to its exit status.
std::string RunShell(const std::string& command, int* code) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) out.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  *code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

TEST(AblateUploadCliTest, UploadsFoldersAndTexts) {
  TempDir tmp;
  storage::ArtifactStoreOptions options;
  options.root = tmp / "store";
  auto store = storage::ArtifactStore::Open(options);
  ASSERT_TRUE(store.ok());
  server::ArtifactServiceImpl service(store->get(), nullptr);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  const std::string ablate =
      std::string(ABLATE_CLIENT_BIN) + " --server 127.0.0.1:" + std::to_string(port) + " ";

  MakeModelFolder(tmp / "model", 300000, 1);
  const std::string digest = *client::ModelFolderDigest(tmp / "model");
  int code = -1;
  std::string out = RunShell(ablate + "upload " + (tmp / "model"), &code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("artifact " + digest + "\n"), std::string::npos) << out;
  EXPECT_NE(out.find("bytes sent"), std::string::npos) << out;
  EXPECT_TRUE((*store)->Stat(digest).ok());

  out = RunShell(ablate + "upload " + (tmp / "model"), &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("already on the server, nothing sent"), std::string::npos) << out;

  WriteFile(tmp / "text.txt", "some text\n");
  out = RunShell(ablate + "upload --text " + (tmp / "text.txt"), &code);
  EXPECT_EQ(code, 0);
  EXPECT_NE(out.find("artifact " + artifact::Sha256Hex("some text\n")), std::string::npos) << out;

  out = RunShell(ablate + "upload " + (tmp / "missing"), &code);  // Not a folder: exit 3 (not found).
  EXPECT_EQ(code, 3) << out;
  server->Shutdown();
}

}  // namespace
}  // namespace ablate
