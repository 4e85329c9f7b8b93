"""The review loop's tables: defined with the store (`csqa.outputs.store.review_tables`), which creates and
migrates them; this name stays for callers of the review loop."""
from csqa.outputs.store.review_tables import (REVIEW_AGENT_COLUMNS, REVIEW_CONVERSATION_COLUMNS, REVIEW_TABLES,  # noqa: F401
                                      create_review_tables, fill_finding_ids, has_review_tables, record_rulebook)
