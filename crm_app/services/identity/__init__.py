"""Identity resolution: link product users to CRM people and accounts, refusing to guess between candidates."""
