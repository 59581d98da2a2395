"""Data protection: the audit chain, retention, subject access and erasure, backup, encryption at
rest."""
