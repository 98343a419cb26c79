// A thin RAII layer over the SQLite C API with absl::Status errors: a connection
// (Database), prepared statements (Statement) and an immediate write transaction
// (WriteTransaction).
//
// Thread-safety: none of these classes is thread-safe; the owner (Store) serializes access.
#ifndef ABLATE_STORAGE_SQLITE_H_
#define ABLATE_STORAGE_SQLITE_H_

#include <cstdint>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace ablate::storage {

// A prepared statement. Bind indices are 1-based, column indices 0-based (as in SQLite).
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, int value) { return Bind(index, static_cast<int64_t>(value)); }
  Statement& Bind(int index, double value);
  Statement& Bind(int index, absl::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, absl::string_view(text)); }
  Statement& Bind(int index, const std::string& text) {
    return Bind(index, absl::string_view(text));
  }
  Statement& BindBlob(int index, absl::string_view bytes);
  Statement& BindNull(int index);

  // Binds the arguments to indices 1, 2, ...
  template <typename... Args>
  Statement& BindAll(const Args&... args) {
    int index = 0;
    (Bind(++index, args), ...);
    return *this;
  }

  // Advances: true when a row is available, false when done. The first bind error, if any,
  // is returned here.
  absl::StatusOr<bool> Step();
  // Steps to completion (for statements that return no rows).
  absl::Status Run();
  // Makes the statement ready to run again (bindings are kept until rebound).
  void Reset();

  int64_t ColumnInt(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnText(int column) const;
  bool ColumnIsNull(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void NoteBind(int rc);

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_status_;
};

// One SQLite connection.
class Database {
 public:
  // Opens (creating if missing) the file at `path` with the given busy timeout.
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        int busy_timeout_ms);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs one or more statements that return no rows we need.
  absl::Status Exec(absl::string_view sql);
  absl::StatusOr<Statement> Prepare(absl::string_view sql);
  // The first column of the first row of `sql` as an integer (for PRAGMAs and counts).
  absl::StatusOr<int64_t> QueryInt(absl::string_view sql);
  absl::StatusOr<std::string> QueryText(absl::string_view sql);

  int64_t LastInsertRowId() const;
  int Changes() const;
  sqlite3* raw() const { return db_; }

 private:
  explicit Database(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

// Maps an SQLite result code (and the connection's message) to an absl::Status.
absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what);

// BEGIN IMMEDIATE on construction (takes the write lock up front, so no deadlock-prone lock
// upgrade happens later); ROLLBACK on destruction unless Commit() succeeded.
class WriteTransaction {
 public:
  static absl::StatusOr<std::unique_ptr<WriteTransaction>> Begin(Database* db);
  ~WriteTransaction();
  absl::Status Commit();

 private:
  explicit WriteTransaction(Database* db) : db_(db) {}
  Database* db_;
  bool done_ = false;
};

}  // namespace ablate::storage

#endif  // ABLATE_STORAGE_SQLITE_H_
