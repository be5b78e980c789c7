"""Admin files: load and check the whole set, hot reload with the last good set kept, rule-impact previews."""
