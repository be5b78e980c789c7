"""Slack: the PQL alert's Block Kit blocks, where messages go (Slack or the embedded outbox), the Bolt app."""
