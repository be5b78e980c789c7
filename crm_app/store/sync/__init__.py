"""What CRM sync keeps beyond links: records deleted in the CRM, and people found by their canonical email."""
