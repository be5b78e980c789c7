"""Playbooks: plan actions into the ledger on score changes, dispatch them, assign owners, render messages,
handle Slack alert buttons."""
