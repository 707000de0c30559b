"""The reconciliation benchmark behind ``make bench``: pm-pipeline against the floor, a full pull and its peers."""
