"""Publishing: release, the posting queue, takedown, the destinations' adapters, accounts,
captions."""
