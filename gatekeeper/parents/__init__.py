"""Parent self-service: a signed, expiring link per parent or carer, no account, consent only."""
