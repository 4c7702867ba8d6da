// Test tool: removes every stored payload hash from a stopped winnowd's data
// directory, turning it into what a release that kept no hashes wrote, so
// that tests can exercise the exact_dedup backfill through the whole server
// (tests/python/test_exact_dedup.py).
//
//   drop_payload_hashes DATA_DIR     prints the number of hashes removed
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "storage/format.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DATA_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies({}, dir, &names);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  size_t docs = names.size();
  for (const std::string& name : names) {
    if (name == winnow::storage::internal::kDocsFamily) docs = families.size();
    families.push_back({name, {}});
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (s.ok()) s = rocksdb::DB::Open({}, dir, families, &handles, &raw);
  if (!s.ok() || docs == names.size()) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(),
                 s.ok() ? "no docs family" : s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  // Docs keys: be32(collection), a field tag, be32(ordinal).
  int64_t removed = 0;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[docs]));
  for (it->SeekToFirst(); it->Valid() && s.ok(); it->Next()) {
    const rocksdb::Slice k = it->key();
    if (k.size() == 9 &&
        k[4] == static_cast<char>(
                    winnow::storage::internal::DocField::kPayloadHash)) {
      s = db->Delete(rocksdb::WriteOptions(), handles[docs], k);
      ++removed;
    }
  }
  if (s.ok()) s = it->status();
  it.reset();
  if (s.ok()) s = db->Flush({}, handles[docs]);
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("%lld\n", static_cast<long long>(removed));
  return 0;
}
