// The versioned SQLite schema of the job queue (documented in storage/SCHEMA.md).
//
// The schema version is PRAGMA user_version. Migrate() applies, in order, every migration
// above the file's version, each in its own BEGIN IMMEDIATE transaction, and refuses a file
// whose version is newer than this build knows.
//
// Thread-safety: call with exclusive use of `db` (Store::Open does).
#ifndef ABLATE_STORAGE_SCHEMA_H_
#define ABLATE_STORAGE_SCHEMA_H_

#include "absl/status/status.h"
#include "storage/sqlite.h"

namespace ablate::storage {

// The version this build writes. Bump it only by appending a migration.
inline constexpr int kSchemaVersion = 6;

// Stored task states (tasks.state). Persistent format: never renumber.
enum class TaskState : int {
  kQueued = 1,
  kLeased = 2,
  kDone = 3,
  kFailed = 4,
  kCancelled = 5,  // The job was cancelled or failed before this task ran.
};

// Errors: FAILED_PRECONDITION when the file's user_version is newer than kSchemaVersion
// (the message names both versions); sqlite errors otherwise.
absl::Status Migrate(Database* db);

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_SCHEMA_H_
