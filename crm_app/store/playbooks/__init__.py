"""Tables and queries of playbooks: the ledger, routing state and Slack alerts."""
