"""Loading per API: two multi-assets per API (dated and snapshot endpoints) and their checks."""
