#include "client/winnowctl/import.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/winnowctl/jsonl.h"
#include "client/winnowctl/npy.h"
#include "client/winnowctl/progress.h"

namespace winnow::ctl {
namespace {

// Reads a file line by line with getline(3), counting bytes for progress.
class LineReader {
 public:
  static absl::StatusOr<std::unique_ptr<LineReader>> Open(
      const std::string& path) {
    FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
    }
    int64_t total = -1;
    struct stat st;
    if (fstat(fileno(file), &st) == 0 && S_ISREG(st.st_mode)) {
      total = st.st_size;
    }
    return std::unique_ptr<LineReader>(new LineReader(file, total));
  }

  ~LineReader() {
    std::free(buffer_);
    if (file_ != stdin) std::fclose(file_);
  }

  // The next line without its "\n" (or "\r\n"); false at the end.
  bool Next(std::string_view* line) {
    const ssize_t n = getline(&buffer_, &capacity_, file_);
    if (n < 0) return false;
    bytes_read_ += n;
    size_t size = static_cast<size_t>(n);
    if (size > 0 && buffer_[size - 1] == '\n') --size;
    if (size > 0 && buffer_[size - 1] == '\r') --size;
    *line = std::string_view(buffer_, size);
    return true;
  }

  bool failed() const { return std::ferror(file_) != 0; }
  int64_t bytes_read() const { return bytes_read_; }
  int64_t total_bytes() const { return total_bytes_; }

 private:
  LineReader(FILE* file, int64_t total) : file_(file), total_bytes_(total) {}

  FILE* file_;
  const int64_t total_bytes_;
  char* buffer_ = nullptr;
  size_t capacity_ = 0;
  int64_t bytes_read_ = 0;
};

// The rows of --embeddings, handed to the documents in order.
class EmbeddingRows {
 public:
  // Opens the file and checks it against the collection's dimension and,
  // unless the JSONL is standard input, against its number of documents,
  // before anything is sent.
  static absl::StatusOr<std::unique_ptr<EmbeddingRows>> Open(
      const ImportOptions& options, int dimension) {
    if (dimension == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "--embeddings: collection '", options.collection,
          "' has no embeddings (embedding_dimension 0); create one with "
          "--embedding-dimension"));
    }
    absl::StatusOr<std::unique_ptr<NpyReader>> npy =
        NpyReader::Open(options.embeddings_path);
    if (!npy.ok()) return npy.status();
    const NpyHeader& h = (*npy)->header();
    if (h.cols != dimension) {
      return absl::InvalidArgumentError(
          absl::StrCat(options.embeddings_path, ": rows of ", h.cols,
                       " values, but collection '", options.collection,
                       "' has embedding_dimension ", dimension));
    }
    if (options.path != "-") {
      absl::StatusOr<int64_t> documents = CountDocuments(options.path);
      if (!documents.ok()) return documents.status();
      if (*documents != h.rows) return Mismatch(options, h.rows, *documents);
    }
    return std::unique_ptr<EmbeddingRows>(
        new EmbeddingRows(options, *std::move(npy)));
  }

  // A document before --resume-from-line: its row is skipped.
  void Skip() { ++skipped_; }

  // Gives `doc` its row.
  absl::Status Fill(ParsedDocument* doc) {
    if (!doc->embedding.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "field 'embedding': not allowed with --embeddings ", npy_->path(),
          ", which gives every document's embedding"));
    }
    if (!positioned_) {
      if (absl::Status s = npy_->Seek(std::min(skipped_, npy_->header().rows));
          !s.ok())
        return s;
      positioned_ = true;
    }
    absl::Status read = npy_->ReadRow(&doc->embedding);
    if (absl::IsOutOfRange(read)) {
      return absl::InvalidArgumentError(
          absl::StrCat(npy_->path(), " has ", npy_->header().rows,
                       " rows, fewer than the documents of ", options_.path));
    }
    return read;
  }

  // At the end of the JSONL file: every row was used.
  absl::Status Finish() const {
    const int64_t used = positioned_ ? npy_->next_row() : skipped_;
    if (used == npy_->header().rows) return absl::OkStatus();
    return Mismatch(options_, npy_->header().rows, used);
  }

 private:
  EmbeddingRows(const ImportOptions& options, std::unique_ptr<NpyReader> npy)
      : options_(options), npy_(std::move(npy)) {}

  static absl::Status Mismatch(const ImportOptions& options, int64_t rows,
                               int64_t documents) {
    return absl::InvalidArgumentError(absl::StrCat(
        options.embeddings_path, " has ", rows, " rows but ", options.path,
        " has ", documents,
        " documents (non-blank lines): row i is the embedding of document i"));
  }

  // The non-blank lines of a JSONL file.
  static absl::StatusOr<int64_t> CountDocuments(const std::string& path) {
    absl::StatusOr<std::unique_ptr<LineReader>> reader = LineReader::Open(path);
    if (!reader.ok()) return reader.status();
    int64_t documents = 0;
    std::string_view line;
    while ((*reader)->Next(&line)) documents += !DocumentParser::IsBlank(line);
    if ((*reader)->failed()) {
      return absl::DataLossError(
          absl::StrCat("error reading ", path, ": ", std::strerror(errno)));
    }
    return documents;
  }

  const ImportOptions& options_;
  std::unique_ptr<NpyReader> npy_;
  int64_t skipped_ = 0;
  bool positioned_ = false;
};

// The lines a sent batch came from, to know what is durable once it is
// acknowledged.
struct SentBatch {
  int64_t first_line;
  int64_t last_line;
};

}  // namespace

absl::Status Import(const Client& client, const ImportOptions& options,
                    ImportResult* result) {
  *result = ImportResult();
  result->resume_line = options.resume_from_line;
  const absl::Time start = absl::Now();
  if (options.batch_size < 1) {
    return absl::InvalidArgumentError("--batch-size must be at least 1");
  }
  if (options.resume_from_line < 1) {
    return absl::InvalidArgumentError("--resume-from-line must be at least 1");
  }

  // The collection's embedding dimension, to check embeddings line by line
  // (and a missing collection is reported before the file is read).
  v1::GetCollectionRequest get;
  get.set_name(options.collection);
  absl::StatusOr<v1::GetCollectionResponse> collection =
      client.GetCollection(get);
  if (!collection.ok()) return collection.status();
  const int dimension = collection->collection().embedding_dimension();
  std::unique_ptr<EmbeddingRows> rows;
  if (!options.embeddings_path.empty()) {
    absl::StatusOr<std::unique_ptr<EmbeddingRows>> opened_rows =
        EmbeddingRows::Open(options, dimension);
    if (!opened_rows.ok()) return opened_rows.status();
    rows = *std::move(opened_rows);
  }

  absl::StatusOr<std::unique_ptr<LineReader>> opened =
      LineReader::Open(options.path);
  if (!opened.ok()) return opened.status();
  LineReader& reader = **opened;

  DocumentParser parser(dimension);
  ColumnarBatchBuilder builder(options.collection);
  ParsedDocument doc;
  DocumentWriter writer =
      client.UpsertDocuments(options.collection, options.writer);
  std::deque<SentBatch> sent;
  int64_t durable_through = options.resume_from_line - 1;
  writer.set_on_ack([&](const v1::UpsertDocumentsResponse&) {
    durable_through = sent.front().last_line;
    sent.pop_front();
  });
  SentBatch building{0, 0};
  auto send = [&]() -> absl::Status {
    if (builder.empty()) return absl::OkStatus();
    sent.push_back(building);
    return writer.Write(builder.Take());
  };

  std::optional<ProgressReporter> progress;
  int64_t base_bytes = 0;  // bytes skipped by --resume-from-line
  absl::Status status;
  bool interrupted = false;
  int64_t line_number = 0;
  std::string_view line;
  while (reader.Next(&line)) {
    ++line_number;
    if (line_number < options.resume_from_line) {
      if (rows && !DocumentParser::IsBlank(line)) rows->Skip();
      continue;
    }
    if (!progress && options.progress != nullptr) {
      base_bytes = reader.bytes_read() - static_cast<int64_t>(line.size());
      progress.emplace(
          options.progress, options.progress_tty,
          reader.total_bytes() < 0 ? -1 : reader.total_bytes() - base_bytes,
          options.progress_interval);
    }
    if (options.interrupted != nullptr && options.interrupted->load()) {
      interrupted = true;
      break;
    }
    if (DocumentParser::IsBlank(line)) continue;
    absl::Status parsed = parser.Parse(line, &doc);
    if (parsed.ok() && rows) parsed = rows->Fill(&doc);
    if (!parsed.ok()) {
      result->bad_line = line_number;
      status = absl::InvalidArgumentError(
          absl::StrCat(options.path, ":", line_number, ": ", parsed.message()));
      break;
    }
    if (!builder.Accepts(doc)) {
      if (status = send(); !status.ok()) break;
    }
    if (builder.empty()) building.first_line = line_number;
    builder.Add(doc);
    building.last_line = line_number;
    if (builder.size() >= static_cast<size_t>(options.batch_size)) {
      if (status = send(); !status.ok()) break;
    }
    if (progress && line_number % 256 == 0) {
      progress->Update(reader.bytes_read() - base_bytes,
                       writer.stats().documents_acked);
    }
  }
  if (status.ok() && reader.failed()) {
    status = absl::DataLossError(absl::StrCat("error reading ", options.path,
                                              ": ", std::strerror(errno)));
  }
  // The batch being built is sent unless it holds a bad line.
  if (status.ok()) status = send();
  if (status.ok() && rows && !interrupted) status = rows->Finish();
  const absl::Status closed = writer.Close();
  if (status.ok()) {
    status = closed;
  } else if (result->bad_line > 0 && !closed.ok()) {
    status = absl::Status(
        status.code(),
        absl::StrCat(status.message(), "; the batches before it failed too: ",
                     closed.ToString()));
  }
  if (!status.ok() && result->bad_line == 0 && !sent.empty()) {
    status = absl::Status(
        status.code(),
        absl::StrCat(
            status.message(), " (the first batch not imported holds lines ",
            sent.front().first_line, "-", sent.front().last_line, ")"));
  }
  if (progress) {
    progress->Done(reader.bytes_read() - base_bytes,
                   writer.stats().documents_acked);
  }

  result->lines_read = line_number;
  result->documents_imported = writer.stats().documents_acked;
  result->batches = writer.stats().batches_acked;
  result->resends = writer.stats().resends;
  result->resume_line = durable_through + 1;
  result->complete = status.ok() && !interrupted;
  result->elapsed = absl::Now() - start;
  return status;
}

}  // namespace winnow::ctl
