"""Stable finding ids: the recipe lives with the store (`csqa.results.finding_ids`), which fills them in;
this name stays for callers of the review loop."""
from csqa.results.finding_ids import (add_finding_ids, finding_id, finding_id_sql, is_missed_id, missed_id,  # noqa: F401
                                    occurrence_sql, occurrences)
