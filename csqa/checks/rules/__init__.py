"""Rule kinds: what each kind of rule in a rulebook means, one module each (require, forbid, timing,
repetition, emoji, outcome). A rule kind turns a conversation (its `ConversationView` and `Situation`) into
hits; the scorecard turns hits into points."""
