"""Operations: recovering stalled work, and the commands an operator runs (audit, purge, SAR, backup)."""
