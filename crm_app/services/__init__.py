"""Services combine the store, the pure engine and the adapters, one subpackage per capability."""
