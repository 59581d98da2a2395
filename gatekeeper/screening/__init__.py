"""Face screening: detect, encode, match against the register, the decision rule and its evaluation."""
