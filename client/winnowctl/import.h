// `winnowctl import`: streams a JSONL file of documents (jsonl.h) into a
// collection through the resending DocumentWriter.
//
// Every line is validated as it is read. A bad line stops the import before
// the batch that holds it is sent: the batches before it are flushed (so the
// count of imported documents is exact), nothing of the bad batch is, and
// the result names the line to resume from once the file is fixed.
#ifndef WINNOW_CLIENT_WINNOWCTL_IMPORT_H_
#define WINNOW_CLIENT_WINNOWCTL_IMPORT_H_

#include <atomic>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "winnow/client/acked_writer.h"
#include "winnow/client/client.h"

namespace winnow::ctl {

struct ImportOptions {
  std::string collection;
  // The JSONL file; "-" reads standard input.
  std::string path;
  // A .npy file of embeddings (npy.h), row i for the i-th document of the
  // JSONL file (blank lines hold no document); empty for none. Its rows
  // must number the documents and have the collection's dimension, and
  // then no line may carry its own "embedding".
  std::string embeddings_path;
  // Documents per UpsertDocuments batch (one atomic write on the server).
  int batch_size = 4096;
  // First line to import (1-based); earlier lines are skipped unread.
  int64_t resume_from_line = 1;
  // Options of the writer (window, reconnect budget); collection is set
  // from `collection`.
  WriterOptions writer;

  // Where progress goes; null for none.
  std::ostream* progress = nullptr;
  // Redraw a bar (a terminal) or print a line every progress_interval.
  bool progress_tty = false;
  absl::Duration progress_interval = absl::Seconds(10);
  // When it becomes true (a signal handler sets it), the import stops
  // reading, sends what it has read and waits for it to be durable.
  const std::atomic<bool>* interrupted = nullptr;
};

struct ImportResult {
  // Lines read, skipped ones included.
  int64_t lines_read = 0;
  // Documents acknowledged by the server (durable).
  int64_t documents_imported = 0;
  // Batches acknowledged, and batches resent after a reconnect.
  int64_t batches = 0;
  int64_t resends = 0;
  // First line not known to be durable: where --resume-from-line should
  // restart after a failure or an interruption.
  int64_t resume_line = 1;
  // Reached the end of the file with every document durable.
  bool complete = false;
  // The bad line, for an import stopped by one (0 otherwise).
  int64_t bad_line = 0;
  absl::Duration elapsed;
};

// Runs the import. Returns OK when every document from resume_from_line to
// the end of the file (or to an interruption, see `complete`) is durable.
// A bad line returns INVALID_ARGUMENT "PATH:LINE: message" with bad_line
// set; any other error is the collection lookup's, the file's or the
// writer's. `*result` is filled in every case.
absl::Status Import(const Client& client, const ImportOptions& options,
                    ImportResult* result);

}  // namespace winnow::ctl

#endif  // WINNOW_CLIENT_WINNOWCTL_IMPORT_H_
