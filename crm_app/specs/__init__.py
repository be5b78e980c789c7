"""Admin files -> typed, frozen objects. The only reader of rules/, field_specs/ and playbooks/."""
