#include "nas/table.h"

#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "core/fs_util.h"

namespace hwnas {

namespace {

// Splits one CSV line (RFC 4180 quotes allowed) into fields.
void splitLine(const std::string& line, std::vector<std::string>& out) {
  out.clear();
  std::string cur;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          cur += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(std::move(cur));
}

}  // namespace

std::shared_ptr<const CsvTable> CsvTable::load(const std::string& path) { return parse(readFile(path), path); }

std::shared_ptr<const CsvTable> CsvTable::parse(const std::string& text, const std::string& name) {
  auto t = std::make_shared<CsvTable>();
  t->path_ = name;
  size_t pos = 0, lineNo = 0;
  std::vector<std::string> fields;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineNo;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    splitLine(line, fields);
    if (t->columns_.empty()) {
      t->columns_ = fields;
      continue;
    }
    if (fields.size() != t->columns_.size())
      throw IoError(name + ":" + std::to_string(lineNo) + ": " + std::to_string(fields.size()) + " fields, the header has " +
                    std::to_string(t->columns_.size()));
    for (auto& f : fields) t->cells_.push_back(std::move(f));
    ++t->rows_;
  }
  if (t->columns_.empty()) throw IoError(name + ": empty table (no header line)");
  return t;
}

int CsvTable::columnIndex(const std::string& name) const {
  for (size_t i = 0; i < columns_.size(); ++i)
    if (columns_[i] == name) return int(i);
  return -1;
}

double CsvTable::number(size_t row, int col) const {
  const std::string& s = text(row, col);
  if (s.empty()) return NAN;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0') return NAN;
  return v;
}

TableIndex::TableIndex(std::shared_ptr<const CsvTable> table, const std::string& keyColumn, const std::string& filterColumn,
                       const std::string& filterValue)
    : table_(std::move(table)) {
  int k = table_->columnIndex(keyColumn);
  if (k < 0) throw InputError(table_->path() + ": no column '" + keyColumn + "'");
  int f = filterColumn.empty() ? -1 : table_->columnIndex(filterColumn);
  if (!filterColumn.empty() && f < 0) throw InputError(table_->path() + ": no column '" + filterColumn + "'");
  for (size_t r = 0; r < table_->rows(); ++r) {
    if (f >= 0 && table_->text(r, f) != filterValue) continue;
    const std::string& key = table_->text(r, k);
    if (!rows_.emplace(key, r).second)
      throw IoError(table_->path() + ": key '" + key + "' occurs twice in column '" + keyColumn + "'" +
                    (f >= 0 ? " for " + filterColumn + " '" + filterValue + "'" : std::string()));
  }
}

std::optional<size_t> TableIndex::find(const std::string& key) const {
  auto it = rows_.find(key);
  if (it == rows_.end()) return std::nullopt;
  return it->second;
}

std::shared_ptr<const CsvTable> TableCache::get(const std::string& path) {
  auto it = tables_.find(path);
  if (it != tables_.end()) return it->second;
  auto t = CsvTable::load(path);
  tables_[path] = t;
  return t;
}

}  // namespace hwnas
