// "Did you mean" hints for unknown names in a filter.
//
// Pure functions; thread-safe.
#ifndef WINNOW_SELECTION_FILTER_SUGGEST_H_
#define WINNOW_SELECTION_FILTER_SUGGEST_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace winnow::filter {

// The optimal-string-alignment distance: insertions, deletions,
// substitutions and transpositions of adjacent characters each cost 1
// (so 'lenght' is one edit from 'length').
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate nearest to `name` when it is close enough to be a likely
// typo: at most 1 edit for names of up to 4 characters, 2 up to 8, 3
// beyond. Ties go to the candidate listed first.
std::optional<std::string> ClosestName(
    std::string_view name, const std::vector<std::string>& candidates);

}  // namespace winnow::filter

#endif  // WINNOW_SELECTION_FILTER_SUGGEST_H_
