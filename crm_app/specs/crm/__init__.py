"""Admin files about the CRM: the data mapping that sync reads and the record-creation policy."""
