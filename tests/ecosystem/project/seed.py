"""The products the migrate step puts in the shop (no Django import: the
pytest side reads it to check the views' answers)."""

SEED = [("anvil", 2500), ("bolt", 50), ("crate", 1200), ("dynamite", 999), ("emery", 325)]
