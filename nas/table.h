// CsvTable: a benchmark table (data/nb201/*.csv) read once into memory: named columns, one
// row per architecture, looked up by a key column (NB201 `index`, `arch_str`, or an arch
// `hash`). Invariant: values are exactly the numbers written in the file (strtod of the text),
// every key occurs once, and lookups never re-read the file.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace hwnas {

class CsvTable {
 public:
  // Reads the whole file. IoError naming it if missing, empty or ragged (a row with another
  // number of fields than the header).
  static std::shared_ptr<const CsvTable> load(const std::string& path);
  static std::shared_ptr<const CsvTable> parse(const std::string& text, const std::string& name);

  const std::string& path() const { return path_; }
  const std::vector<std::string>& columns() const { return columns_; }
  size_t rows() const { return rows_; }
  // -1 when absent.
  int columnIndex(const std::string& name) const;
  bool hasColumn(const std::string& name) const { return columnIndex(name) >= 0; }
  const std::string& text(size_t row, int col) const { return cells_[row * columns_.size() + size_t(col)]; }
  // The number in a cell; NaN when the text is empty or not a number.
  double number(size_t row, int col) const;

 private:
  std::string path_;
  std::vector<std::string> columns_;
  std::vector<std::string> cells_;  // row-major
  size_t rows_ = 0;
};

// A map key text -> row for one key column, optionally restricted to rows whose `filterCol`
// equals `filterValue` (long-format tables such as nn-Meter's `device` column).
class TableIndex {
 public:
  TableIndex(std::shared_ptr<const CsvTable> table, const std::string& keyColumn, const std::string& filterColumn = "",
             const std::string& filterValue = "");
  // Row for this key; nullopt when missing.
  std::optional<size_t> find(const std::string& key) const;
  size_t size() const { return rows_.size(); }
  const CsvTable& table() const { return *table_; }

 private:
  std::shared_ptr<const CsvTable> table_;
  std::unordered_map<std::string, size_t> rows_;
};

// Loads each path once per process-lifetime object (a search shares one cache).
class TableCache {
 public:
  std::shared_ptr<const CsvTable> get(const std::string& path);

 private:
  std::map<std::string, std::shared_ptr<const CsvTable>> tables_;
};

}  // namespace hwnas
