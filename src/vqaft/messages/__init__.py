"""Chat-format training files: message building, image encoding, validation, cost estimate."""
