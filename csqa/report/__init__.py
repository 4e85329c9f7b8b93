"""Report stage: result tables (conversations, findings, agents) and the HTML / Excel reports."""
