"""Face screening: detect, encode, follow faces through a clip, match against the register, the
decision rule and its evaluation."""
